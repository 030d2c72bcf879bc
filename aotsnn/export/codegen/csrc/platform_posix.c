/* aotsnn_platform.h for POSIX systems: stdio files, malloc, clock_gettime. */
#define _POSIX_C_SOURCE 199309L
#include "aotsnn_platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int platform_read(const char *path, void *data, size_t bytes) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return -1;
  size_t got = bytes ? fread(data, 1, bytes, f) : 0;
  int extra = fgetc(f);           /* the file must hold exactly `bytes` bytes */
  fclose(f);
  return got == bytes && extra == EOF ? 0 : -1;
}

int platform_write(const char *path, const void *data, size_t bytes) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return -1;
  size_t put = bytes ? fwrite(data, 1, bytes, f) : 0;
  return (fclose(f) == 0 && put == bytes) ? 0 : -1;
}

void *platform_create(const char *path) { return fopen(path, "wb"); }

int platform_append(void *file, const void *data, size_t bytes) {
  return (bytes == 0 || fwrite(data, 1, bytes, (FILE *)file) == bytes) ? 0 : -1;
}

int platform_close(void *file) { return fclose((FILE *)file) == 0 ? 0 : -1; }

void *platform_alloc(size_t bytes) { return malloc(bytes ? bytes : 1); }

double platform_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

void platform_report(const char *message) { fprintf(stderr, "%s\n", message); }
