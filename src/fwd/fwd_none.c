/* The "no forwarding plane" stand-in. */
#include "fwd/fwd.h"

#include <errno.h>
#include <stdio.h>

static int none_filter_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                           size_t n, unsigned queue, char *err, size_t errlen)
{
	snprintf(err, err ? errlen : 0, "no forwarding plane driver on this node");
	return -ENOTSUP;
}

static int none_sample_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                           size_t n, const struct fwd_sample *sample, char *err, size_t errlen)
{
	snprintf(err, err ? errlen : 0, "no forwarding plane driver on this node");
	return -ENOTSUP;
}

static int none_filter_remove(void *fwd, const char *rule_id)
{
	return -ENOENT;
}

static int none_flush(void *fwd, char *err, size_t errlen)
{
	return 0;
}

const struct fwd_ops fwd_none_ops = {
        .name = "none",
        .filter_add = none_filter_add,
        .sample_add = none_sample_add,
        .filter_remove = none_filter_remove,
        .flush = none_flush,
};
