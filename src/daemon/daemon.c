#include <stdio.h>

#include "daemon/daemon.h"

int daemon_main(int argc, char **argv)
{
        fprintf(stderr, "pxcrid: not built yet\n");
        return 1;
}
