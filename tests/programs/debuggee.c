/* The program gdb debugs in tests/tests/ptrace.rs: a breakpoint in
 * square(), a step over its multiplication, its variables printed. */
#include <stdio.h>

int square(int x) {
    int y = x * x;
    return y;
}

int main(void) {
    int total = 0;
    for (int i = 1; i <= 3; i++)
        total += square(i);
    printf("total=%d\n", total);
    return 0;
}
