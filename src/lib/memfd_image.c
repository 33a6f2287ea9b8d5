/* Sealed memfd copies of files (memfd_image.h). */
#include "lib/memfd_image.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define IMAGE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

static int write_all(int fd, const char *buf, size_t n)
{
	for (size_t w = 0; w < n;) {
		ssize_t k = write(fd, buf + w, n - w);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		w += (size_t)k;
	}
	return 0;
}

int memfd_image_copy(int fd, const char *name)
{
	int mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	char buf[65536];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		int r = n < 0 ? -errno : n > 0 ? write_all(mfd, buf, (size_t)n) : 0;
		if (r < 0) {
			close(mfd);
			return r;
		}
		if (n == 0)
			break;
		off += n;
	}
	if (fcntl(mfd, F_ADD_SEALS, IMAGE_SEALS) < 0) {
		int r = -errno;
		close(mfd);
		return r;
	}
	return mfd;
}

bool memfd_image_is_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & IMAGE_SEALS) == IMAGE_SEALS;
}
