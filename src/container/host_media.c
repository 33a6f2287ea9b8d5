/* media/1's work (see host_media.h): demux the MPEG-TS from memory, decode
 * its H.264 video, draw the text with libavfilter's drawtext, encode with
 * libx264 and mux every stream again into MPEG-TS in memory. */
#include "container/host_media.h"

#include <errno.h>
#include <fcntl.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IO_BUF 65536

/* The input: a segment in memory. */
struct media_in {
	const uint8_t *p;
	size_t len, pos;
};

/* The output: a bounded growing buffer. */
struct media_out {
	uint8_t *p;
	size_t len, alloc, cap;
	bool too_big;
};

struct media {
	struct media_in in;
	struct media_out out;
	uint64_t deadline_ns;
	bool timed_out;
	AVFormatContext *ifc, *ofc;
	AVIOContext *iio, *oio;
	AVCodecContext *dec, *enc;
	AVFilterGraph *graph;
	AVFilterContext *src, *sink;
	AVFrame *frame, *filtered;
	AVPacket *pkt;
	int vidx;      /* the input's video stream */
	int *map;      /* input stream -> output stream, -1: dropped */
	int64_t first; /* the first decoded frame's pts: a keyframe there */
	uint32_t frames;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void quiet(void *avcl, int level, const char *fmt, va_list vl)
{
	(void)avcl, (void)level, (void)fmt, (void)vl;
}

void host_media_init(void)
{
	av_log_set_level(AV_LOG_QUIET);
	av_log_set_callback(quiet);
}

static int in_read(void *opaque, uint8_t *buf, int size)
{
	struct media_in *in = opaque;
	size_t n = in->len - in->pos;
	if (n == 0)
		return AVERROR_EOF;
	if (n > (size_t)size)
		n = (size_t)size;
	memcpy(buf, in->p + in->pos, n);
	in->pos += n;
	return (int)n;
}

static int64_t in_seek(void *opaque, int64_t off, int whence)
{
	struct media_in *in = opaque;
	int64_t base;
	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE:
		return (int64_t)in->len;
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)in->pos;
		break;
	case SEEK_END:
		base = (int64_t)in->len;
		break;
	default:
		return AVERROR(EINVAL);
	}
	if (off < -base || base + off > (int64_t)in->len)
		return AVERROR(EINVAL);
	in->pos = (size_t)(base + off);
	return (int64_t)in->pos;
}

/* avio_alloc_context's write callback took a non-const buffer before
 * FFmpeg 7 (libavformat 61). */
#if LIBAVFORMAT_VERSION_MAJOR < 61
#define WRITE_BUF uint8_t
#else
#define WRITE_BUF const uint8_t
#endif

static int out_write(void *opaque, WRITE_BUF *buf, int size)
{
	struct media_out *o = opaque;
	if (size <= 0)
		return 0;
	if (o->len + (size_t)size > o->cap) {
		o->too_big = true;
		return AVERROR(EFBIG);
	}
	if (o->len + (size_t)size > o->alloc) {
		size_t a = o->alloc ? o->alloc * 2 : 1u << 18;
		while (a < o->len + (size_t)size)
			a *= 2;
		if (a > o->cap)
			a = o->cap;
		uint8_t *p = realloc(o->p, a);
		if (!p)
			return AVERROR(ENOMEM);
		o->p = p;
		o->alloc = a;
	}
	memcpy(o->p + o->len, buf, (size_t)size);
	o->len += (size_t)size;
	return size;
}

/* FFmpeg's blocking calls ask this whether to give up. */
static int interrupted(void *opaque)
{
	struct media *md = opaque;
	if (now_ns() > md->deadline_ns)
		md->timed_out = true;
	return md->timed_out;
}

/* An FFmpeg error as a negative errno of host_media.h's list. */
static int to_errno(const struct media *md, int r)
{
	if (md->timed_out)
		return -ETIME;
	if (md->out.too_big)
		return -EFBIG;
	if (r == AVERROR(ENOMEM))
		return -ENOMEM;
	if (r == AVERROR(ENOENT))
		return -ENOENT;
	if (r == AVERROR(EFBIG) || r == AVERROR(ETIME) || r == AVERROR(ENOTSUP))
		return AVUNERROR(r);
	return -EINVAL;
}

static bool utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80             ? 0
		           : (c & 0xe0) == 0xc0 ? 1
		           : (c & 0xf0) == 0xe0 ? 2
		           : (c & 0xf8) == 0xf0 ? 3
		                                : 4;
		if (c == 0 || k == 4 || (k == 1 && c < 0xc2) || c > 0xf4 || i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++)
			if (((unsigned char)s[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

static int open_input(struct media *md)
{
	uint8_t *buf = av_malloc(IO_BUF);
	if (!buf)
		return -ENOMEM;
	md->iio = avio_alloc_context(buf, IO_BUF, 0, &md->in, in_read, NULL, in_seek);
	md->ifc = avformat_alloc_context();
	if (!md->iio || !md->ifc) {
		if (!md->iio)
			av_free(buf);
		return -ENOMEM;
	}
	md->ifc->pb = md->iio;
	md->ifc->flags |= AVFMT_FLAG_CUSTOM_IO;
	md->ifc->interrupt_callback = (AVIOInterruptCB){interrupted, md};
	AVDictionary *o = NULL;
	/* Only the MPEG-TS demuxer; the H.264 decoder, and HLS's audio
	 * decoders for their parameters (a few packets: the audio is copied). */
	av_dict_set(&o, "format_whitelist", "mpegts", 0);
	av_dict_set(&o, "codec_whitelist", "h264,aac,mp3float,ac3", 0);
	av_dict_set(&o, "probesize", "1000000", 0);
	av_dict_set(&o, "analyzeduration", "2000000", 0);
	int r = avformat_open_input(&md->ifc, NULL, av_find_input_format("mpegts"), &o);
	av_dict_free(&o);
	if (r < 0)
		return to_errno(md, r);
	r = avformat_find_stream_info(md->ifc, NULL);
	if (r < 0)
		return to_errno(md, r);
	md->vidx = -1;
	for (unsigned i = 0; i < md->ifc->nb_streams; i++)
		if (md->ifc->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
			md->vidx = (int)i;
			break;
		}
	if (md->vidx < 0)
		return -EINVAL;
	const AVCodecParameters *par = md->ifc->streams[md->vidx]->codecpar;
	if (par->codec_id != AV_CODEC_ID_H264)
		return -ENOTSUP;
	if (par->width <= 0 || par->height <= 0)
		return -EINVAL;
	if ((uint64_t)par->width * (uint64_t)par->height > HOST_MEDIA_PIXELS)
		return -EFBIG;
	if (par->format != AV_PIX_FMT_YUV420P && par->format != AV_PIX_FMT_YUVJ420P)
		return -ENOTSUP;
	for (unsigned i = 0; i < md->ifc->nb_streams; i++) {
		const AVCodecParameters *p = md->ifc->streams[i]->codecpar;
		if (p->codec_type == AVMEDIA_TYPE_AUDIO && p->codec_id != AV_CODEC_ID_NONE &&
		    p->sample_rate <= 0)
			return -ENOTSUP; /* audio the muxer could not write again */
	}
	return 0;
}

static int open_decoder(struct media *md)
{
	const AVStream *st = md->ifc->streams[md->vidx];
	const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
	if (!c)
		return -ENOTSUP;
	md->dec = avcodec_alloc_context3(c);
	if (!md->dec)
		return -ENOMEM;
	int r = avcodec_parameters_to_context(md->dec, st->codecpar);
	if (r < 0)
		return to_errno(md, r);
	md->dec->pkt_timebase = st->time_base;
	md->dec->thread_count = 1;
	md->dec->max_pixels = HOST_MEDIA_PIXELS;
	r = avcodec_open2(md->dec, c, NULL);
	return r < 0 ? to_errno(md, r) : 0;
}

static int open_filter(struct media *md, const struct host_media_text *t)
{
	const AVStream *st = md->ifc->streams[md->vidx];
	const AVCodecParameters *par = st->codecpar;
	md->graph = avfilter_graph_alloc();
	if (!md->graph)
		return -ENOMEM;
	md->graph->nb_threads = 1;
	char args[256];
	AVRational sar =
	        par->sample_aspect_ratio.num ? par->sample_aspect_ratio : (AVRational){1, 1};
	snprintf(args, sizeof(args),
	         "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d", par->width,
	         par->height, par->format, st->time_base.num, st->time_base.den, sar.num, sar.den);
	int r = avfilter_graph_create_filter(&md->src, avfilter_get_by_name("buffer"), "in", args,
	                                     NULL, md->graph);
	if (r < 0)
		return to_errno(md, r);
	r = avfilter_graph_create_filter(&md->sink, avfilter_get_by_name("buffersink"), "out", NULL,
	                                 NULL, md->graph);
	if (r < 0)
		return to_errno(md, r);
	/* drawtext's options set one by one: the text is never parsed as
	 * filter-graph syntax, and expansion=none draws it as it is. */
	const AVFilter *dt = avfilter_get_by_name("drawtext");
	if (!dt)
		return -ENOTSUP;
	AVFilterContext *draw = avfilter_graph_alloc_filter(md->graph, dt, "text");
	if (!draw)
		return -ENOMEM;
	char *text = strndup(t->text, t->text_len);
	if (!text)
		return -ENOMEM;
	uint32_t size = t->size ? t->size : (uint32_t)par->height / 10;
	if (size < 4)
		size = 4;
	if (size > (uint32_t)par->height)
		size = (uint32_t)par->height;
	AVDictionary *o = NULL;
	av_dict_set(&o, "fontfile", HOST_MEDIA_FONT, 0);
	av_dict_set(&o, "text", text, 0);
	av_dict_set(&o, "expansion", "none", 0);
	av_dict_set_int(&o, "x", t->x, 0);
	av_dict_set_int(&o, "y", t->y, 0);
	av_dict_set_int(&o, "fontsize", size, 0);
	av_dict_set(&o, "fontcolor", "white", 0);
	av_dict_set(&o, "box", "1", 0);
	av_dict_set(&o, "boxcolor", "black@0.6", 0);
	av_dict_set(&o, "boxborderw", "4", 0);
	free(text);
	int fd = open(HOST_MEDIA_FONT, O_RDONLY | O_CLOEXEC); /* not access(): seccomp */
	if (fd < 0) {
		av_dict_free(&o);
		return -ENOENT;
	}
	close(fd);
	r = avfilter_init_dict(draw, &o);
	av_dict_free(&o);
	if (r < 0)
		return to_errno(md, r);
	if ((r = avfilter_link(md->src, 0, draw, 0)) < 0 ||
	    (r = avfilter_link(draw, 0, md->sink, 0)) < 0 ||
	    (r = avfilter_graph_config(md->graph, NULL)) < 0)
		return to_errno(md, r);
	return 0;
}

static int open_output(struct media *md)
{
	const AVStream *ist = md->ifc->streams[md->vidx];
	const AVCodecParameters *par = ist->codecpar;
	const AVCodec *c = avcodec_find_encoder_by_name("libx264");
	if (!c)
		return -ENOTSUP;
	md->enc = avcodec_alloc_context3(c);
	if (!md->enc)
		return -ENOMEM;
	md->enc->width = par->width;
	md->enc->height = par->height;
	md->enc->pix_fmt = par->format;
	md->enc->sample_aspect_ratio = par->sample_aspect_ratio;
	md->enc->time_base = ist->time_base;
	md->enc->framerate = ist->avg_frame_rate.num ? ist->avg_frame_rate : ist->r_frame_rate;
	md->enc->color_range = par->color_range;
	md->enc->colorspace = par->color_space;
	md->enc->color_primaries = par->color_primaries;
	md->enc->color_trc = par->color_trc;
	md->enc->thread_count = 1;
	md->enc->max_b_frames = 0;   /* dts = pts: the input's timestamps as they are */
	md->enc->gop_size = 1 << 20; /* keyframes where the input had them */
	AVDictionary *o = NULL;
	/* superfast at CRF 21: a 2 s 1280x720 segment in ~0.5 s on one core
	 * (veryfast at CRF 18 took ~1.9 s, near the time limit), the frame
	 * outside the text within ~50 dB PSNR of the input. */
	av_dict_set(&o, "preset", "superfast", 0);
	av_dict_set(&o, "crf", "21", 0);
	av_dict_set(&o, "forced-idr", "1", 0);
	av_dict_set(&o, "x264-params", "scenecut=0", 0);
	int r = avcodec_open2(md->enc, c, &o);
	av_dict_free(&o);
	if (r < 0)
		return to_errno(md, r);

	r = avformat_alloc_output_context2(&md->ofc, NULL, "mpegts", NULL);
	if (r < 0 || !md->ofc)
		return -ENOMEM;
	uint8_t *buf = av_malloc(IO_BUF);
	if (!buf)
		return -ENOMEM;
	md->oio = avio_alloc_context(buf, IO_BUF, 1, &md->out, NULL, out_write, NULL);
	if (!md->oio) {
		av_free(buf);
		return -ENOMEM;
	}
	md->ofc->pb = md->oio;
	md->ofc->flags |= AVFMT_FLAG_CUSTOM_IO;
	md->map = calloc(md->ifc->nb_streams, sizeof(*md->map));
	if (!md->map)
		return -ENOMEM;
	for (unsigned i = 0; i < md->ifc->nb_streams; i++) {
		const AVStream *s = md->ifc->streams[i];
		md->map[i] = -1;
		if (s->codecpar->codec_id == AV_CODEC_ID_NONE)
			continue; /* nothing the muxer could write */
		AVStream *os = avformat_new_stream(md->ofc, NULL);
		if (!os)
			return -ENOMEM;
		md->map[i] = os->index;
		os->time_base = s->time_base;
		os->id = s->id; /* the same PIDs */
		if ((int)i == md->vidx)
			r = avcodec_parameters_from_context(os->codecpar, md->enc);
		else
			r = avcodec_parameters_copy(os->codecpar, s->codecpar);
		if (r < 0)
			return to_errno(md, r);
		os->codecpar->codec_tag = 0;
		av_dict_copy(&os->metadata, s->metadata, 0);
	}
	av_dict_set(&o, "mpegts_copyts", "1", 0);
	r = avformat_write_header(md->ofc, &o);
	av_dict_free(&o);
	return r < 0 ? to_errno(md, r) : 0;
}

/* Writes what the encoder has ready (frame NULL: drains it). */
static int encode(struct media *md, AVFrame *frame)
{
	int r = avcodec_send_frame(md->enc, frame);
	if (r < 0 && r != AVERROR_EOF)
		return to_errno(md, r);
	for (;;) {
		r = avcodec_receive_packet(md->enc, md->pkt);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
			return 0;
		if (r < 0)
			return to_errno(md, r);
		AVStream *os = md->ofc->streams[md->map[md->vidx]];
		av_packet_rescale_ts(md->pkt, md->enc->time_base, os->time_base);
		md->pkt->stream_index = os->index;
		r = av_interleaved_write_frame(md->ofc, md->pkt);
		if (r < 0)
			return to_errno(md, r);
	}
}

/* Draws on what the filter has ready and encodes it. */
static int filter_out(struct media *md)
{
	for (;;) {
		int r = av_buffersink_get_frame(md->sink, md->filtered);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
			return 0;
		if (r < 0)
			return to_errno(md, r);
		/* An IDR wherever the input had a keyframe (HLS segments start
		 * with one), and on the first frame. */
		bool key = md->filtered->key_frame || md->filtered->pts == md->first;
		md->filtered->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
		r = encode(md, md->filtered);
		av_frame_unref(md->filtered);
		if (r < 0)
			return r;
	}
}

/* Decodes what the decoder has ready and filters it (pkt NULL: drains it). */
static int decode(struct media *md, const AVPacket *pkt)
{
	int r = avcodec_send_packet(md->dec, pkt);
	if (r < 0 && r != AVERROR_EOF && r != AVERROR_INVALIDDATA)
		return to_errno(md, r);
	for (;;) {
		r = avcodec_receive_frame(md->dec, md->frame);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
			return 0;
		if (r < 0)
			return to_errno(md, r);
		if (++md->frames > HOST_MEDIA_FRAMES)
			return -EFBIG;
		if (md->frame->width != md->dec->width || md->frame->height != md->dec->height ||
		    md->frame->width != md->enc->width || md->frame->height != md->enc->height ||
		    md->frame->format != md->enc->pix_fmt) {
			av_frame_unref(md->frame);
			return -ENOTSUP; /* a resolution change inside the segment */
		}
		md->frame->pts = md->frame->best_effort_timestamp;
		if (md->first == AV_NOPTS_VALUE)
			md->first = md->frame->pts;
		r = av_buffersrc_add_frame_flags(md->src, md->frame, AV_BUFFERSRC_FLAG_KEEP_REF);
		av_frame_unref(md->frame);
		if (r < 0)
			return to_errno(md, r);
		if ((r = filter_out(md)) < 0)
			return r;
	}
}

static int run(struct media *md)
{
	int r;
	while ((r = av_read_frame(md->ifc, md->pkt)) >= 0) {
		if (interrupted(md)) {
			av_packet_unref(md->pkt);
			return -ETIME;
		}
		int si = md->pkt->stream_index;
		if (si == md->vidx) {
			r = decode(md, md->pkt);
			av_packet_unref(md->pkt);
		} else if (si >= 0 && (unsigned)si < md->ifc->nb_streams && md->map[si] >= 0) {
			AVStream *os = md->ofc->streams[md->map[si]];
			av_packet_rescale_ts(md->pkt, md->ifc->streams[si]->time_base,
			                     os->time_base);
			md->pkt->stream_index = os->index;
			md->pkt->pos = -1;
			r = av_interleaved_write_frame(md->ofc, md->pkt);
			if (r < 0)
				r = to_errno(md, r);
		} else {
			av_packet_unref(md->pkt);
			r = 0;
		}
		if (r < 0)
			return r;
	}
	if (r != AVERROR_EOF)
		return to_errno(md, r);
	if ((r = decode(md, NULL)) < 0)
		return r;
	if ((r = av_buffersrc_add_frame_flags(md->src, NULL, 0)) < 0)
		return to_errno(md, r);
	if ((r = filter_out(md)) < 0 || (r = encode(md, NULL)) < 0)
		return r;
	if (md->frames == 0)
		return -EINVAL; /* no picture decoded: not a usable segment */
	r = av_write_trailer(md->ofc);
	if (r < 0)
		return to_errno(md, r);
	avio_flush(md->oio);
	return md->out.too_big ? -EFBIG : 0;
}

static void media_free(struct media *md)
{
	av_frame_free(&md->frame);
	av_frame_free(&md->filtered);
	av_packet_free(&md->pkt);
	avfilter_graph_free(&md->graph);
	avcodec_free_context(&md->dec);
	avcodec_free_context(&md->enc);
	if (md->ifc)
		avformat_close_input(&md->ifc);
	if (md->iio)
		av_freep(&md->iio->buffer);
	avio_context_free(&md->iio);
	avformat_free_context(md->ofc);
	if (md->oio)
		av_freep(&md->oio->buffer);
	avio_context_free(&md->oio);
	free(md->map);
	free(md->out.p);
}

int64_t host_media_overlay(const uint8_t *in, size_t len, const struct host_media_text *t,
                           size_t cap, uint32_t time_ms, uint8_t **out)
{
	*out = NULL;
	if (time_ms > HOST_MEDIA_TIME_MS)
		time_ms = HOST_MEDIA_TIME_MS;
	if (len > HOST_MEDIA_INPUT_MAX)
		return -EFBIG;
	if (t->text_len == 0 || t->text_len > HOST_MEDIA_TEXT_MAX || !utf8_ok(t->text, t->text_len))
		return -EINVAL;
	if (t->x > 16384 || t->y > 16384 || t->size > 1024)
		return -EINVAL;
	struct media md = {.in = {in, len, 0},
	                   .out = {.cap = cap},
	                   .deadline_ns = now_ns() + (uint64_t)time_ms * 1000000u,
	                   .vidx = -1,
	                   .first = AV_NOPTS_VALUE};
	int r = -ENOMEM;
	md.frame = av_frame_alloc();
	md.filtered = av_frame_alloc();
	md.pkt = av_packet_alloc();
	if (md.frame && md.filtered && md.pkt && (r = open_input(&md)) == 0 &&
	    (r = open_decoder(&md)) == 0 && (r = open_filter(&md, t)) == 0 &&
	    (r = open_output(&md)) == 0)
		r = run(&md);
	if (md.timed_out) /* whatever FFmpeg made of being interrupted */
		r = -ETIME;
	int64_t n = (int64_t)md.out.len;
	if (r == 0) {
		*out = md.out.p;
		md.out.p = NULL;
	}
	media_free(&md);
	return r < 0 ? r : n;
}
