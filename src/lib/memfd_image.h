/* Sealed memfd copies of files: a module's compiled code as the container
 * loads it (dlopen("/proc/self/fd/N")). Sealed = no process can write, grow
 * or shrink it, or change its seals, so one copy can be handed to many
 * containers of different publishers and they share its pages
 * (runtime/module_image.h). */
#pragma once

#include <stdbool.h>

/* Copies the file open at fd (read from offset 0 with pread; fd's offset is
 * untouched) into a new memfd named name, seals it (write, grow, shrink,
 * seal) and returns it (O_CLOEXEC; the caller owns it), or a negative errno. */
int memfd_image_copy(int fd, const char *name);

/* Whether fd is a memfd whose contents nobody can change any more: write,
 * grow and shrink sealed, and the seals themselves sealed. */
bool memfd_image_is_sealed(int fd);
