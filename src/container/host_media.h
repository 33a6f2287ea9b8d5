/* media/1: text overlaid on the video of an MPEG-TS segment, with FFmpeg's
 * libraries (libavformat, libavcodec, libavfilter's drawtext), in the
 * publisher's container. The work is bounded: input size, picture size,
 * frames and wall-clock time (HOST_MEDIA_*); everything runs in the calling
 * thread (FFmpeg's threads = 1). Only the MPEG-TS demuxer and muxer, the
 * H.264 decoder and libx264 are used; other streams are copied unparsed. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/host_api.h"

/* The font drawn with (fonts-dejavu-core); the container's landlock lets it
 * read this one file. */
#define HOST_MEDIA_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

#define HOST_MEDIA_INPUT_MAX NS_MEDIA_INPUT_MAX /* bytes of one segment */
#define HOST_MEDIA_TEXT_MAX  NS_MEDIA_TEXT_MAX  /* bytes of UTF-8 text */
#define HOST_MEDIA_FRAMES    3000               /* video frames of one segment */
#define HOST_MEDIA_PIXELS    (3840u * 2160u)
#define HOST_MEDIA_TIME_MS   NS_MEDIA_TIME_MS /* one call's wall-clock time */

/* Where and how big the text is drawn. */
struct host_media_text {
	const char *text; /* UTF-8, text_len bytes (not NUL-terminated) */
	size_t text_len;
	uint32_t x, y; /* its top-left corner, pixels from the frame's */
	uint32_t size; /* font size in pixels, 0: a tenth of the frame's height */
};

/* Draws t on every video frame of the MPEG-TS segment in[0..len) and writes
 * the re-encoded segment (video with libx264, other streams copied, every
 * timestamp kept) into a new buffer of at most cap bytes (*out, free() it),
 * within time_ms of wall-clock time (at most HOST_MEDIA_TIME_MS).
 * Returns its length, or -EINVAL (not a decodable MPEG-TS with H.264 video,
 * or bad text), -ENOTSUP (another video codec or pixel format), -EFBIG
 * (input, picture, frames or the output over their limits), -ETIME (over
 * the time), -ENOENT (no font), -ENOMEM. */
int64_t host_media_overlay(const uint8_t *in, size_t len, const struct host_media_text *t,
                           size_t cap, uint32_t time_ms, uint8_t **out);

/* host_media_overlay's type, for netserv-media.so's users (dlsym). */
typedef int64_t host_media_overlay_fn(const uint8_t *in, size_t len,
                                      const struct host_media_text *t, size_t cap, uint32_t time_ms,
                                      uint8_t **out);

/* Quiets FFmpeg's log (its messages would reach the node's log per call;
 * failures are returned as errors). Call once before the first overlay. */
void host_media_init(void);
