/*
 * Shared by the files of node/core/: what node_open and node_close call in
 * spaces.c. Not for other folders.
 */
#ifndef COMPTOIR_CORE_INTERNAL_H
#define COMPTOIR_CORE_INTERNAL_H

#include "node/core/core.h"

/* Makes the key ring, sets node/index up with it and the seal key
 * (node_seal_key) and opens into the ring the keys sealed to this site.
 * 0, or an error with err saying what. */
int node_spaces_open(node_t *n, skey_ring_t **ring, char *err, size_t errlen) CPT_WUR;
/* Undoes node_spaces_open; safe on NULL. */
void node_spaces_close(node_t *n, skey_ring_t **ring);

#endif
