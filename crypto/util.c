/*
 * Small shared pieces of the bottom layer: error strings, hex, the hybrid
 * logical clock, library initialisation.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/crypto.h"

const char *
cpt_strerror(int err)
{
	switch (err) {
	case CPT_OK: return "success";
	case CPT_EINVAL: return "malformed input";
	case CPT_ENOMEM: return "out of memory";
	case CPT_EIO: return "input/output error";
	case CPT_ENOTFOUND: return "not found";
	case CPT_EAGAIN: return "try again";
	case CPT_ETOOBIG: return "too big";
	case CPT_EVERSION: return "unknown version";
	case CPT_EFEDERATION: return "wrong federation";
	case CPT_ESIG: return "bad signature";
	case CPT_EHASH: return "body does not match its hash";
	case CPT_EPERM: return "not allowed";
	case CPT_EEXIST: return "already exists";
	case CPT_EPENDING: return "pending a certificate";
	case CPT_EREDACTED: return "redacted";
	case CPT_EREVOKED: return "key revoked";
	case CPT_EFULL: return "full";
	case CPT_EKEYFILE: return "bad key file";
	case CPT_ECONFIG: return "configuration error";
	case CPT_ESTATE: return "wrong state";
	case CPT_EAUTH: return "authentication failed";
	case CPT_ENOSPC: return "no space left on device";
	case CPT_EDAMAGED: return "damaged";
	case CPT_EMAPFULL: return "store map full";
	case CPT_EHELD: return "held until its time";
	}
	return "unknown error";
}

int
cpt_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void
cpt_hex32(char out[CPT_HEX_ID], const uint8_t in[32])
{
	sodium_bin2hex(out, CPT_HEX_ID, in, 32);
}

int
cpt_unhex32(uint8_t out[32], const char *hex, size_t len)
{
	size_t bin_len = 0;
	const char *end = NULL;

	if (len != 64)
		return CPT_EINVAL;
	if (sodium_hex2bin(out, 32, hex, len, NULL, &bin_len, &end) != 0 || bin_len != 32 ||
	    end != hex + len)
		return CPT_EINVAL;
	return 0;
}

uint32_t
cpt_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void
cpt_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

void
cpt_deadline(struct timespec *out, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, out);
	out->tv_sec += (time_t)(ms / 1000);
	out->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}

uint64_t
hlc_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
hlc_next(hlc_t *clk, uint64_t wall_ms)
{
	uint64_t candidate = HLC_MAKE(wall_ms, 0);

	/* Past the last value: take the wall clock. Otherwise count on from the last;
	 * a full counter carries into the millisecond field, still monotonic. */
	if (candidate > clk->last)
		clk->last = candidate;
	else
		clk->last++;
	return clk->last;
}

int
hlc_observe(hlc_t *clk, uint64_t ts, uint64_t wall_ms)
{
	if (HLC_MS(ts) > wall_ms + HLC_MAX_DRIFT_MS)
		return -1;
	if (ts > clk->last)
		clk->last = ts;
	return 0;
}
