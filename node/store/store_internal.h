/*
 * Shared by the files of node/store/ (store.c, walk.c): the checks made
 * before LMDB maps a file. Not for other folders.
 */
#ifndef COMPTOIR_STORE_INTERNAL_H
#define COMPTOIR_STORE_INTERNAL_H

#include "node/store/store.h"

/* Allocates dir/store/lock.mdb's pages (LMDB maps it for writing: a hole
 * touched on a full disk is SIGBUS). store_path is dir/store. 0, or
 * CPT_ENOSPC with a message naming dir; other errors are left to LMDB. */
int store_lock_alloc(const char *store_path, const char *dir, char *err, size_t errlen) CPT_WUR;
/*
 * Checks path (a data.mdb) before LMDB maps it: both meta pages are LMDB's
 * and agree on a page size, and the file holds every page the newest commit
 * uses. Returns 0, CPT_ENOTFOUND (no file, or an empty one: why says which),
 * CPT_EDAMAGED or CPT_EIO with "path ..." in err.
 */
int store_check_file(const char *path, const char *dir, char *err, size_t errlen, char *why,
                     size_t wl) CPT_WUR;

#endif
