#ifndef JCS_VERSION_H
#define JCS_VERSION_H
/* One version for every binary of the tree. */
#define JCS_VERSION "0.1.0"
#endif
