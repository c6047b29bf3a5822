/* The process's capabilities, applied by pxcri-init as runc applies them
 * (records of the process file, src/init/init.c):
 *   C<b|e|p|i|a><hex mask>   bounding, effective, permitted, inheritable,
 *                            ambient; bit N is capability N
 * pxcri-init starts as root; init_caps_before_switch() drops the bounding
 * set and keeps the permitted one across the setgid/setuid that follows,
 * init_caps_after_switch() sets effective, permitted and inheritable
 * (capset) and raises the ambient ones.  Without any "C" record both do
 * nothing: the kernel's rules for the uid switch apply. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum { INIT_CAP_BOUNDING, INIT_CAP_EFFECTIVE, INIT_CAP_PERMITTED, INIT_CAP_INHERITABLE, INIT_CAP_AMBIENT,
       INIT_CAP_SETS };

struct init_caps {
        int set; /* a "C" record was seen */
        uint64_t mask[INIT_CAP_SETS];
};

/* One "C" record; -EINVAL if malformed. */
int init_caps_parse(const char *rec, struct init_caps *c);

/* 0, or -errno with what failed in what. */
int init_caps_before_switch(const struct init_caps *c, char *what, size_t size);
int init_caps_after_switch(const struct init_caps *c, char *what, size_t size);
