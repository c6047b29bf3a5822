/* pxcrid's program: flags, configuration, the loop, signals. */
#pragma once

int daemon_main(int argc, char **argv);
