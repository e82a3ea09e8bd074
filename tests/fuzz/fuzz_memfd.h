/* fuzz_memfd.h - for fuzz targets of code that reads a file by its path: the input as an
 * in-memory file (memfd) named by a /proc/self/fd path. */
#ifndef RT_FUZZ_MEMFD_H
#define RT_FUZZ_MEMFD_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* The file's descriptor (close it after use) with its path in path, or -1. */
static inline int fuzz_memfd(const uint8_t *data, size_t n, char path[64]) {
  int fd = memfd_create("fuzz", 0);
  if (fd < 0)
    return -1;
  if (write(fd, data, n) != (ssize_t)n) {
    close(fd);
    return -1;
  }
  snprintf(path, 64, "/proc/self/fd/%d", fd);
  return fd;
}

#endif
