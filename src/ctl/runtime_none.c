/* The "no runtime" stand-in: every install is refused with -ENOTSUP. */
#include "ctl/runtime.h"

#include <errno.h>
#include <stdio.h>

static int none_install(void *rt, const struct runtime_module *m, runtime_done_fn *done, void *ctx,
                        char *err, size_t errlen)
{
	snprintf(err, err ? errlen : 0,
	         "no runtime: this node has no module runtime; module stored, not running");
	return -ENOTSUP;
}

static int none_remove(void *rt, const char *user, const char *module_id)
{
	return -ENOENT;
}

static const char *none_building_blocks(void *rt)
{
	return "";
}

static void none_stats(void *rt, runtime_stats_fn *done, void *ctx)
{
	json_t *empty = json_object();
	done(ctx, empty);
	json_decref(empty);
}

static void none_forget(void *rt, void *ctx)
{
}

static void none_set_event_handler(void *rt, runtime_event_fn *fn, void *ctx)
{
}

const struct runtime_ops runtime_none_ops = {
        .name = "none",
        .install = none_install,
        .remove = none_remove,
        .building_blocks = none_building_blocks,
        .stats = none_stats,
        .forget = none_forget,
        .set_event_handler = none_set_event_handler,
};
