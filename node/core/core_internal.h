/*
 * Shared by the files of node/core/: what node_open and node_close call in
 * spaces.c. Not for other folders.
 */
#ifndef COMPTOIR_CORE_INTERNAL_H
#define COMPTOIR_CORE_INTERNAL_H

#include "node/core/core.h"

/* Loads keys/site.seal when there is one (*seal NULL otherwise), makes the
 * key ring, sets node/index up with both and opens into the ring the keys
 * sealed to this site. 0, or an error with err naming the file. */
int node_spaces_open(node_t *n, key_curve_t **seal, skey_ring_t **ring, char *err,
                     size_t errlen) CPT_WUR;
/* Undoes node_spaces_open; safe on NULLs. */
void node_spaces_close(node_t *n, key_curve_t **seal, skey_ring_t **ring);

#endif
