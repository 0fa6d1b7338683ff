/* lk.c - a tiny program for the lackey sample: no libc, so the whole run is
 * a few thousand references.  It adds to every 512th byte of a 64 KiB array,
 * sums every 256th byte, increments every 1024th in place, and exits with the low bit of the sum.
 * Build: gcc -O1 -static -nostdlib -fno-stack-protector lk.c -o lk */
static volatile char buf[16 * 4096];

void _start(void)
{
    unsigned sum = 0;

    for (int i = 0; i < (int)sizeof(buf); i += 512)
        buf[i] += (char)i;
    for (int i = 0; i < (int)sizeof(buf); i += 256)
        sum += (unsigned char)buf[i];
    for (int i = 0; i < (int)sizeof(buf); i += 1024)   /* read-modify-write: M */
        __asm__ volatile("addb $1, %0" : "+m"(buf[i]));
    __asm__ volatile("syscall" : : "a"(60), "D"(sum & 1) : "rcx", "r11", "memory");
    for (;;)
        ;
}
