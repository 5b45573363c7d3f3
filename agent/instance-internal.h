#pragma once
#include <stddef.h>
#include <sys/types.h>

#include "agent/instance.h"
#include "common/err.h"

int inst_prepare(struct instance *i, struct err **err);
/* "uid[:gid]" numbers, or names looked up in the rootfs's /etc/passwd and /etc/group. */
int user_resolve(const char *rootfs, const char *user, uid_t *ret_uid, gid_t *ret_gid, gid_t **ret_gids,
		 size_t *ret_n_gids, struct err **err);
