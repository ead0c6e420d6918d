/*
 * The names of decode/verify results in tests/vectors/events.txt ("expect:"),
 * shared by the tool that writes the vectors and the test that reads them.
 */
#ifndef COMPTOIR_VECTOR_CODES_H
#define COMPTOIR_VECTOR_CODES_H

#include "crypto/crypto.h"

static const char *
s_code(int rc)
{
	switch (rc) {
	case 0: return "ok";
	case CPT_EINVAL: return "EINVAL";
	case CPT_ETOOBIG: return "ETOOBIG";
	case CPT_EVERSION: return "EVERSION";
	case CPT_EFEDERATION: return "EFEDERATION";
	case CPT_ESIG: return "ESIG";
	case CPT_EHASH: return "EHASH";
	}
	return "unexpected";
}

#endif
