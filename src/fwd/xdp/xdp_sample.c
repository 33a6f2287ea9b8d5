/* The samples ring, through libbpf's ring buffer reader. */
#include "fwd/xdp/xdp_sample.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>

struct nsxdp_sampler {
	struct ring_buffer *rb;
	nsxdp_sample_fn fn;
	void *ctx;
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct nsxdp_sampler *s = ctx;

	if (size >= sizeof(struct netserv_xdp_sample))
		s->fn(s->ctx, data);
	return 0;
}

int nsxdp_sampler_open(struct nsxdp_prog *p, nsxdp_sample_fn fn, void *ctx,
                       struct nsxdp_sampler **ret)
{
	int fd = nsxdp_samples_fd(p);
	if (fd < 0)
		return -EBADF;
	struct nsxdp_sampler *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->ctx = ctx;
	s->rb = ring_buffer__new(fd, on_sample, s, NULL);
	if (!s->rb) {
		int r = -errno;
		free(s);
		return r ? r : -EINVAL;
	}
	*ret = s;
	return 0;
}

int nsxdp_sampler_fd(const struct nsxdp_sampler *s)
{
	return ring_buffer__epoll_fd(s->rb);
}

int nsxdp_sampler_poll(struct nsxdp_sampler *s, int timeout_ms)
{
	return timeout_ms ? ring_buffer__poll(s->rb, timeout_ms) : ring_buffer__consume(s->rb);
}

void nsxdp_sampler_close(struct nsxdp_sampler *s)
{
	if (!s)
		return;
	ring_buffer__free(s->rb);
	free(s);
}
