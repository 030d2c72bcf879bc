/* Minimal bare-metal start for Cortex-M with an FPU (qemu mps2-an386 / mps2-an500): the vector
 * table, enabling the FPU, zeroing .bss, and leaving through semihosting when main returns.
 * Code and data are loaded straight into RAM by qemu (see mps2.ld), so nothing is copied. */
#include <stdint.h>

extern uint32_t __stack_top[], __bss_start__[], __bss_end__[];
int main(void);
void platform_exit(int status);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void reset_handler(void) {
  SCB_CPACR |= 0xFu << 20;          /* full access to CP10 and CP11: the FPU */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (uint32_t *word = __bss_start__; word < __bss_end__; ++word) *word = 0;
  platform_exit(main());
}

static void fault_handler(void) { platform_exit(2); }

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, reset_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler,
    fault_handler};
