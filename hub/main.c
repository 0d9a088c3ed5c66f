#include <stdio.h>
int main(void)
{
    fprintf(stderr, "hub: not built yet\n");
    return 1;
}
