/* media/1 natively: host_media_overlay on a tiny MPEG-TS (96x64 H.264 and
 * AAC, tests/fuzz/corpus/media/tiny.ts) — the text changes the frames where
 * it is drawn and leaves the rest close (PSNR), every frame and timestamp is
 * kept, the audio is copied — and on bad input (garbage, truncation, bad
 * text, limits): a clear error, never a crash; and the import over a fake
 * module memory. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "container/host_media.h"
#include "container/modhost_internal.h"

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_HOST_IMPORTS(DECLARE_IMPORT)

#define MAX_FRAMES 64

static uint8_t *tiny;
static size_t tiny_len;

/* The decoded luma planes and timestamps of a segment's video. */
struct decoded {
	int n, w, h;
	int64_t pts[MAX_FRAMES];
	uint8_t *y[MAX_FRAMES];
	int audio_packets;
	int64_t audio_first_pts;
};

struct mem_in {
	const uint8_t *p;
	size_t len, pos;
};

static int rd(void *o, uint8_t *buf, int size)
{
	struct mem_in *in = o;
	size_t n = in->len - in->pos;
	if (!n)
		return AVERROR_EOF;
	if (n > (size_t)size)
		n = (size_t)size;
	memcpy(buf, in->p + in->pos, n);
	in->pos += n;
	return (int)n;
}

static void decode_all(const uint8_t *p, size_t len, struct decoded *d)
{
	memset(d, 0, sizeof(*d));
	d->audio_first_pts = AV_NOPTS_VALUE;
	struct mem_in in = {p, len, 0};
	AVFormatContext *fc = avformat_alloc_context();
	AVIOContext *io = avio_alloc_context(av_malloc(4096), 4096, 0, &in, rd, NULL, NULL);
	fc->pb = io;
	assert_int_equal(avformat_open_input(&fc, NULL, NULL, NULL), 0);
	assert_true(avformat_find_stream_info(fc, NULL) >= 0);
	int v = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	assert_true(v >= 0);
	const AVCodec *c = avcodec_find_decoder(fc->streams[v]->codecpar->codec_id);
	AVCodecContext *dc = avcodec_alloc_context3(c);
	avcodec_parameters_to_context(dc, fc->streams[v]->codecpar);
	assert_int_equal(avcodec_open2(dc, c, NULL), 0);
	AVPacket *pkt = av_packet_alloc();
	AVFrame *f = av_frame_alloc();
	int more = 1;
	while (more) {
		int r = av_read_frame(fc, pkt);
		if (r < 0) {
			avcodec_send_packet(dc, NULL);
			more = 0;
		} else if (pkt->stream_index == v) {
			avcodec_send_packet(dc, pkt);
		} else {
			if (fc->streams[pkt->stream_index]->codecpar->codec_type ==
			    AVMEDIA_TYPE_AUDIO) {
				if (!d->audio_packets++)
					d->audio_first_pts = pkt->pts;
			}
			av_packet_unref(pkt);
			continue;
		}
		av_packet_unref(pkt);
		while (avcodec_receive_frame(dc, f) == 0) {
			assert_true(d->n < MAX_FRAMES);
			d->w = f->width;
			d->h = f->height;
			d->pts[d->n] = f->best_effort_timestamp;
			d->y[d->n] = malloc((size_t)f->width * (size_t)f->height);
			for (int row = 0; row < f->height; row++)
				memcpy(d->y[d->n] + row * f->width,
				       f->data[0] + row * f->linesize[0], (size_t)f->width);
			d->n++;
		}
	}
	av_frame_free(&f);
	av_packet_free(&pkt);
	avcodec_free_context(&dc);
	avformat_close_input(&fc);
	av_freep(&io->buffer);
	avio_context_free(&io);
}

static void decoded_free(struct decoded *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->y[i]);
}

/* PSNR of the luma of a and b in rows [r0, r1) (outside: the rest). */
static double psnr_rows(const struct decoded *a, const struct decoded *b, int i, int r0, int r1,
                        bool inside)
{
	double se = 0;
	size_t n = 0;
	for (int row = 0; row < a->h; row++) {
		if ((row >= r0 && row < r1) != inside)
			continue;
		for (int x = 0; x < a->w; x++) {
			double dd =
			        (double)a->y[i][row * a->w + x] - (double)b->y[i][row * a->w + x];
			se += dd * dd;
			n++;
		}
	}
	if (se == 0)
		return 99;
	return 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static struct host_media_text text(const char *s)
{
	return (struct host_media_text){s, strlen(s), 2, 2, 16};
}

static void test_overlay(void **state)
{
	struct host_media_text t = text("Madrid 21\xc2\xb0"
	                                "C");
	uint8_t *out = NULL;
	int64_t n = host_media_overlay(tiny, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out);
	assert_true(n > 0);
	struct decoded a, b;
	decode_all(tiny, tiny_len, &a);
	decode_all(out, (size_t)n, &b);
	assert_int_equal(a.n, 10);
	assert_int_equal(b.n, a.n);
	assert_int_equal(b.w, a.w);
	assert_int_equal(b.h, a.h);
	for (int i = 0; i < a.n; i++) {
		assert_int_equal(b.pts[i], a.pts[i]); /* timestamps kept */
		/* the text's rows (y 2..~24) differ clearly; the rest is close */
		double in = psnr_rows(&a, &b, i, 0, 26, true);
		double rest = psnr_rows(&a, &b, i, 0, 26, false);
		assert_true(in < 20);
		assert_true(rest >= 30);
	}
	assert_true(a.audio_packets > 0);
	assert_int_equal(b.audio_packets, a.audio_packets); /* audio copied */
	assert_int_equal(b.audio_first_pts, a.audio_first_pts);
	decoded_free(&a);
	decoded_free(&b);
	free(out);
}

static void test_bad_input(void **state)
{
	struct host_media_text t = text("x");
	uint8_t *out = (uint8_t *)1;
	uint8_t junk[4096];
	srand(7);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	assert_int_equal(
	        host_media_overlay(junk, sizeof(junk), &t, 1u << 20, HOST_MEDIA_TIME_MS, &out),
	        -EINVAL);
	assert_null(out);
	assert_int_equal(host_media_overlay(junk, 0, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out),
	                 -EINVAL);
	/* TS packets (sync bytes) with nothing decodable */
	for (size_t i = 0; i < sizeof(junk); i += 188)
		junk[i] = 0x47;
	assert_int_equal(
	        host_media_overlay(junk, sizeof(junk), &t, 1u << 20, HOST_MEDIA_TIME_MS, &out),
	        -EINVAL);
	/* truncated: an error or a shorter segment, never a crash */
	for (size_t cut = 188; cut < tiny_len; cut += 188 * 7) {
		int64_t n = host_media_overlay(tiny, cut, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out);
		if (!(n == -EINVAL || n == -ENOTSUP || n > 0))
			fail_msg("cut at %zu: %lld", cut, (long long)n);
		free(out);
	}
	/* corrupted bytes in the middle */
	uint8_t *bad = malloc(tiny_len);
	memcpy(bad, tiny, tiny_len);
	for (size_t i = 400; i < tiny_len; i += 97)
		bad[i] ^= 0x5a;
	int64_t n = host_media_overlay(bad, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out);
	if (!(n == -EINVAL || n == -ENOTSUP || n > 0))
		fail_msg("corrupted segment: %lld", (long long)n);
	free(out);
	free(bad);
}

static void test_limits(void **state)
{
	uint8_t *out = NULL;
	struct host_media_text t = text("x");
	assert_int_equal(host_media_overlay(tiny, tiny_len, &t, 1000, HOST_MEDIA_TIME_MS, &out),
	                 -EFBIG);
	assert_int_equal(host_media_overlay(tiny, HOST_MEDIA_INPUT_MAX + 1, &t, 1u << 20,
	                                    HOST_MEDIA_TIME_MS, &out),
	                 -EFBIG);
	t = text("");
	assert_int_equal(host_media_overlay(tiny, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out),
	                 -EINVAL);
	t = text("bad \xc3\x28 utf-8");
	assert_int_equal(host_media_overlay(tiny, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out),
	                 -EINVAL);
	t = text("nul");
	t.text_len = 4; /* the NUL too */
	assert_int_equal(host_media_overlay(tiny, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out),
	                 -EINVAL);
	char longer[HOST_MEDIA_TEXT_MAX + 2];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	t = text(longer);
	assert_int_equal(host_media_overlay(tiny, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out),
	                 -EINVAL);
	/* the time limit (0 ms: over at the first check) */
	t = text("x");
	assert_int_equal(host_media_overlay(tiny, tiny_len, &t, 1u << 20, 0, &out), -ETIME);
	assert_null(out);
	/* filter syntax and expansions are drawn as text, not interpreted */
	t = text("%{localtime}:x=1,y=2;[a]drawbox");
	int64_t n = host_media_overlay(tiny, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out);
	assert_true(n > 0);
	free(out);
	/* a position outside the frame: nothing drawn, still a segment */
	t = text("x");
	t.x = 5000;
	n = host_media_overlay(tiny, tiny_len, &t, 1u << 20, HOST_MEDIA_TIME_MS, &out);
	assert_true(n > 0);
	free(out);
	assert_null(NULL);
}

/* The import over a fake module memory of 1 MiB. */
static uint8_t mem_data[1u << 20];
static wasm_rt_memory_t mem = {.data = mem_data, .pages = 16, .max_pages = 16, .size = 1u << 20};
static struct modhost host;
static struct mod mod = {.h = &host, .name = "mod1", .mem = &mem};

static void test_import(void **state)
{
	/* without media/1 (the publisher's policy): -EPERM */
	modhost_media_use(NULL);
	memcpy(mem_data + 1024, tiny, tiny_len);
	assert_int_equal((int32_t)Z_netservZ_ns_media_overlay_text(
	                         &mod.ctx, 1024, (u32)tiny_len, 65536, 512 * 1024, 0, 4, 0, 0, 0),
	                 -EPERM);
	mod.media_calls = mod.media_failures = 0;
	modhost_media_use(host_media_overlay);
	const char *s = "GEC9";
	memcpy(mem_data, s, 4);
	memcpy(mem_data + 1024, tiny, tiny_len);
	uint32_t out = 65536;
	u32 r = Z_netservZ_ns_media_overlay_text(&mod.ctx, 1024, (u32)tiny_len, out, 512 * 1024, 0,
	                                         4, 0, 0, 0);
	assert_true((int32_t)r > 0);
	assert_memory_equal(mem_data + out, "\x47", 1); /* a TS packet's sync byte */
	assert_int_equal(mod.media_calls, 1);
	r = Z_netservZ_ns_media_overlay_text(&mod.ctx, 1024, 100, out, 512 * 1024, 0, 4, 0, 0, 0);
	assert_int_equal((int32_t)r, -EINVAL);
	assert_int_equal(mod.media_calls, 2);
	assert_int_equal(mod.media_failures, 1);
	r = Z_netservZ_ns_media_overlay_text(&mod.ctx, 1024, (u32)tiny_len, out, 100, 0, 4, 0, 0,
	                                     0);
	assert_int_equal((int32_t)r, -EFBIG);
}

int main(void)
{
	mod.ctx.m = &mod;
	host_media_init();
	FILE *f = fopen(SOURCE_DIR "/tests/fuzz/corpus/media/tiny.ts", "rb");
	if (!f) {
		fprintf(stderr, "test_media: no tiny.ts\n");
		return 1;
	}
	tiny = malloc(1u << 20);
	tiny_len = fread(tiny, 1, 1u << 20, f);
	fclose(f);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_overlay),
	        cmocka_unit_test(test_bad_input),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_import),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	free(tiny);
	return r;
}
