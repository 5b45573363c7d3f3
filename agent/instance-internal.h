#pragma once
#include <stddef.h>
#include <sys/types.h>

#include "agent/instance.h"
#include "common/err.h"

struct img_image;

/* Bridge mode: attach before a start (namespace, veth, address, ports; reused across restarts),
 * detach when the instance goes (agent/network.c). */
int inst_net_attach(struct instance *i, struct err **err);
void inst_net_detach(struct instance *i);

/* Rootfs, files, user and bundle for a start whose image is resolved. */
int inst_prepare(struct instance *i, const struct img_image *img, struct err **err);
/* LC_ACT_CREATE: network, bundle and shim for an instance whose image is resolved; may free i. */
void inst_create(struct instance *i, const struct img_image *img);
/* LC_ACT_STOP: SIGTERM, SIGKILL after the grace period. LC_ACT_KILL: SIGKILL now. LC_ACT_CUT_GRACE:
 * SIGKILL now if a grace period still runs. */
void inst_signal_stop(struct instance *i);
void inst_signal_kill(struct instance *i);
void inst_cut_grace(struct instance *i);
/* The image an instance waited for is there (img) or failed (e); may free i. */
void inst_image_ready(struct instance *i, const struct img_image *img, const struct err *e);
/* Reads the shim's BUNDLE/exit.json into has_exit, exit_code, oom_killed and finished_at. */
void inst_read_exit_record(struct instance *i);
