/*
 * Shared by the files of node/query/. Not for other folders.
 */
#ifndef COMPTOIR_QUERY_INTERNAL_H
#define COMPTOIR_QUERY_INTERNAL_H

#include "node/index/index.h"
#include "node/query/query.h"

/* Adds what a post or comment shows of its author, read now from the key
 * record and the profile: "author_site", the home site, and "author_name",
 * the profile's name, or null (feed.c). */
void q_author_extra(store_txn_t *txn, json_t *obj, const uint8_t key[CPT_KEY_LEN],
                    const char *handle);
/* The same for a post view, whose author is "author_key" and "author";
 * returns post (NULL stays NULL). */
json_t *q_post_extra(store_txn_t *txn, json_t *post);

#endif
