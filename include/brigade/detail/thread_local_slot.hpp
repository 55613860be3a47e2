// brigade/detail/thread_local_slot.hpp: reads the runtime's two hottest thread_locals (the
// calling thread's worker, its frame-pool cache) inline, yet correctly inside coroutines under
// clang.
//
// The problem (see BRIGADE_THREAD_LOCAL_ACCESSOR in seam.hpp): clang optimises a coroutine's body
// before it splits it at its suspension points, so it may compute a thread_local's address once
// and reuse it after the coroutine resumed on another thread. The portable cure is an accessor
// that is not inlined; but a call in a function that otherwise makes none (a fork's completion
// path, a frame's allocation) costs the call and, often, the saving and restoring of registers
// around it, on every fork.
//
// The cure here, for clang on Linux x86-64: the variable gets a fixed symbol name (an asm label)
// and the initial-exec TLS model, and its address is computed by a `volatile` asm that is exactly
// what the compiler itself emits for that model:
//     movq symbol@gottpoff(%rip), %reg     the variable's offset from the thread pointer
//     addq %fs:0, %reg                     plus the thread pointer (the TCB's self pointer)
// A volatile asm is never merged with another one nor moved across a suspension point, so each
// read uses the thread pointer of the thread that runs it. The linker turns the first line into
// an immediate in a program (as it does for the compiler's own code). Everywhere else (GCC, which
// lowers coroutines before optimising them; other targets) the address comes from the accessor
// function, as before.
//
// Cost of the model: a shared library holding these variables and loaded with dlopen takes them
// from glibc's static TLS surplus (about 1 KiB is needed); when the surplus is exhausted, dlopen
// fails with "cannot allocate memory in static TLS block" instead of anything going wrong later.
// Linked into a program (statically, or as a shared library the program needs at start), there
// is no limit.
//
// Use: declare the variable `inline constinit thread_local T name BRIGADE_HOT_THREAD_LOCAL("symbol")
// = ...;`, give it an accessor function returning a reference (BRIGADE_THREAD_LOCAL_ACCESSOR),
// and read it through BRIGADE_HOT_THREAD_LOCAL_ADDRESS(T, "symbol", accessor).
// Thread safety: the address is always the calling thread's own instance.
#pragma once

#if defined(__clang__) && defined(__linux__) && defined(__x86_64__)
/// A fixed symbol name and the initial-exec model, for BRIGADE_HOT_THREAD_LOCAL_ADDRESS.
#define BRIGADE_HOT_THREAD_LOCAL(symbol) asm(symbol) __attribute__((tls_model("initial-exec"), used))
/// The calling thread's instance of the variable named `symbol`, as a T*.
#define BRIGADE_HOT_THREAD_LOCAL_ADDRESS(T, symbol, accessor)                                   \
  ([]() noexcept -> T* {                                                                         \
    char* address;                                                                               \
    asm volatile("movq " symbol "@gottpoff(%%rip), %0\n\taddq %%fs:0, %0" : "=r"(address));    \
    return reinterpret_cast<T*>(address);                                                       \
  }())
#else
#define BRIGADE_HOT_THREAD_LOCAL(symbol)
#define BRIGADE_HOT_THREAD_LOCAL_ADDRESS(T, symbol, accessor) (&accessor())
#endif
