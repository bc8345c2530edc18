/* Memory a pool of iron's own keeps after it is freed (pagealloc's slab,
 * objpool) is not malloc's, so AddressSanitizer would not see it used
 * after free. In a sanitizer build the pools poison a freed block and
 * unpoison it when it is given out again; elsewhere these do nothing. */
#ifndef IRON_POISON_H
#define IRON_POISON_H

#if defined(__SANITIZE_ADDRESS__)
#define IRON_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IRON_ASAN 1
#endif
#endif

#ifdef IRON_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(addr, size)   ASAN_POISON_MEMORY_REGION((addr), (size))
#define UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#else
#define POISON(addr, size)   ((void)(addr), (void)(size))
#define UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

#endif
