#include <stdio.h>
int main(void)
{
    fprintf(stderr, "coordinator: not built yet\n");
    return 1;
}
