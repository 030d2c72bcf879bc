/* What the aotsnn test harness needs from the machine it runs on: files, a clock, a console.
 * platform_posix.c implements it with stdio (Linux, also under qemu-user); platform_semihost.c
 * with Arm semihosting (bare metal under qemu-system-arm). The model itself needs none of it. */
#ifndef AOTSNN_PLATFORM_H_
#define AOTSNN_PLATFORM_H_

#include <stddef.h>

/* Read exactly `bytes` bytes of the file `path` into `data`; 0 on success. */
int platform_read(const char *path, void *data, size_t bytes);
/* Create or replace the file `path` with `bytes` bytes of `data`; 0 on success. */
int platform_write(const char *path, const void *data, size_t bytes);
/* A file written in pieces (the harness's trace, one state per step, so it needs no buffer):
 * create or replace `path` (NULL on failure), append `bytes` of `data` (0 on success), close
 * (0 on success). */
void *platform_create(const char *path);
int platform_append(void *file, const void *data, size_t bytes);
int platform_close(void *file);
/* `bytes` of memory for the harness's input and output buffers (never freed); NULL if none. */
void *platform_alloc(size_t bytes);
/* A monotonic clock in seconds (for steps per second). */
double platform_seconds(void);
/* Print a line on the console (stderr, or the semihosting console). */
void platform_report(const char *message);

#endif  /* AOTSNN_PLATFORM_H_ */
