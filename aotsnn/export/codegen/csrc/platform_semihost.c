/* aotsnn_platform.h over Arm semihosting (bkpt 0xAB), for bare-metal Cortex-M under
 * `qemu-system-arm -semihosting-config enable=on,target=native`: file operations reach the
 * host's file system relative to qemu's working directory. Memory for the harness's buffers is
 * the board's PSRAM (linker symbols __heap_start, __heap_end in mps2.ld). */
#include "aotsnn_platform.h"

#include <stdint.h>
#include <string.h>

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05, SYS_READ = 0x06,
       SYS_FLEN = 0x0C, SYS_CLOCK = 0x10, SYS_EXIT = 0x18,
       SYS_ELAPSED = 0x30, SYS_TICKFREQ = 0x31 };
enum { MODE_READ_BINARY = 1, MODE_WRITE_BINARY = 5 };
enum { ADP_STOPPED_APPLICATION_EXIT = 0x20026, ADP_STOPPED_RUNTIME_ERROR = 0x20023 };

extern char __heap_start[], __heap_end[];
static char *heap_next = __heap_start;

static intptr_t semihost(intptr_t op, const void *arg) {
  register intptr_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static intptr_t open_file(const char *path, intptr_t mode) {
  intptr_t args[3] = {(intptr_t)path, mode, (intptr_t)strlen(path)};
  return semihost(SYS_OPEN, args);
}

int platform_read(const char *path, void *data, size_t bytes) {
  intptr_t handle = open_file(path, MODE_READ_BINARY);
  if (handle < 0) return -1;
  intptr_t length = semihost(SYS_FLEN, &handle);
  intptr_t args[3] = {handle, (intptr_t)data, (intptr_t)bytes};
  intptr_t missing = bytes ? semihost(SYS_READ, args) : 0;     /* SYS_READ returns the bytes NOT read */
  semihost(SYS_CLOSE, &handle);
  return (length == (intptr_t)bytes && missing == 0) ? 0 : -1;
}

int platform_write(const char *path, const void *data, size_t bytes) {
  intptr_t handle = open_file(path, MODE_WRITE_BINARY);
  if (handle < 0) return -1;
  intptr_t args[3] = {handle, (intptr_t)data, (intptr_t)bytes};
  intptr_t missing = bytes ? semihost(SYS_WRITE, args) : 0;
  return (semihost(SYS_CLOSE, &handle) == 0 && missing == 0) ? 0 : -1;
}

/* Semihosting handles are small non-negative integers: the pointer is the handle plus one. */
void *platform_create(const char *path) {
  intptr_t handle = open_file(path, MODE_WRITE_BINARY);
  return handle < 0 ? NULL : (void *)(handle + 1);
}

int platform_append(void *file, const void *data, size_t bytes) {
  intptr_t args[3] = {(intptr_t)file - 1, (intptr_t)data, (intptr_t)bytes};
  return (bytes == 0 || semihost(SYS_WRITE, args) == 0) ? 0 : -1;
}

int platform_close(void *file) {
  intptr_t handle = (intptr_t)file - 1;
  return semihost(SYS_CLOSE, &handle) == 0 ? 0 : -1;
}

void *platform_alloc(size_t bytes) {
  size_t size = (bytes + 7u) & ~(size_t)7u;
  if (size > (size_t)(__heap_end - heap_next)) return NULL;
  void *block = heap_next;
  heap_next += size;
  return block;
}

/* The host's tick counter (SYS_ELAPSED, nanoseconds under qemu); centiseconds where it is missing. */
double platform_seconds(void) {
  uint32_t ticks[2];
  intptr_t frequency = semihost(SYS_TICKFREQ, NULL);
  if (frequency > 0 && semihost(SYS_ELAPSED, ticks) == 0)
    return ((double)ticks[1] * 4294967296.0 + (double)ticks[0]) / (double)frequency;
  return 0.01 * (double)semihost(SYS_CLOCK, NULL);
}

void platform_report(const char *message) {
  semihost(SYS_WRITE0, message);
  semihost(SYS_WRITE0, "\n");
}

/* Called by the startup code when main returns: qemu exits with status 0 or 1. */
void platform_exit(int status) {
  semihost(SYS_EXIT, (const void *)(intptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                          : ADP_STOPPED_RUNTIME_ERROR));
  for (;;) {
  }
}
