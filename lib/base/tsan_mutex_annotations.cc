// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ThreadSanitizer builds only (-DNEON_SANITIZE=thread): teaches TSan what
// absl::Mutex and absl::CondVar do.
//
// Debian's Abseil is a prebuilt library compiled without TSan, so the
// annotations Abseil has inside mutex.cc are compiled out and TSan sees no
// happens-before edge between an Unlock and the next Lock: every field
// guarded by an absl::Mutex would be reported as a race. Instead of
// suppressing those reports (which would also hide real races on the same
// fields), the link wraps the out-of-line entry points our code calls
// (ld --wrap, list in lib/base/CMakeLists.txt) with TSan's mutex annotations
// from <sanitizer/tsan_interface.h>, the same calls a TSan-built Abseil
// makes. TSan then models absl::Mutex like a pthread mutex: fields accessed
// under the mutex are ordered, fields accessed without it are still reported,
// and lock-order inversions are detected.
//
// Condition evaluation inside Abseil (Await, LockWhen, evaluation of waiters'
// conditions in Unlock) runs inside the annotated window, where TSan ignores
// memory accesses, exactly as with a TSan-built Abseil.
//
// Not covered: Abseil's own internal uses of Mutex (absl::Notification,
// BlockingCounter, Barrier); neonstore does not use them. Do not enable this
// with an Abseil that is itself built with TSan (-DNEON_TSAN_ABSL_SHIM=OFF):
// every lock would be annotated twice.

#if defined(NEON_TSAN_ABSL_SHIM)

#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdint>

#include "absl/base/config.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#if !defined(__SANITIZE_THREAD__) && !defined(ABSL_HAVE_THREAD_SANITIZER)
#error "NEON_TSAN_ABSL_SHIM requires a -fsanitize=thread build"
#endif

// NEON_TSAN_ABSL_NS is Abseil's inline namespace as it appears in mangled
// names (e.g. "7debian3"), computed by lib/base/CMakeLists.txt. The suffixes
// below assume an inline namespace (it is "NS0_" in the substitutions).
#define NEON_ABSL_SYMBOL(suffix) "_ZN4absl" NEON_TSAN_ABSL_NS suffix
#define NEON_REAL(suffix) __asm__("__real_" NEON_ABSL_SYMBOL(suffix))
#define NEON_WRAP(suffix) __asm__("__wrap_" NEON_ABSL_SYMBOL(suffix))

namespace {

using absl::CondVar;
using absl::Condition;
using absl::Duration;
using absl::Mutex;
using absl::Time;

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;
constexpr unsigned kTryFailed = __tsan_mutex_try_lock_failed;

// Whether the calling thread, which holds `mu`, holds it shared: the writer
// bit (kMuWriter = 0x8 in absl/synchronization/mutex.cc) of Mutex's only
// member is clear. Needed by Await and CondVar waits, which may be called in
// either mode and release the mutex in the mode it is held.
unsigned HeldMode(Mutex* mu) {
  static_assert(sizeof(Mutex) == sizeof(std::atomic<intptr_t>));
  constexpr intptr_t kMuWriter = 0x0008;
  const auto* word = reinterpret_cast<const std::atomic<intptr_t>*>(mu);
  return (word->load(std::memory_order_relaxed) & kMuWriter) != 0 ? 0 : kRead;
}

void PreLock(Mutex* mu, unsigned flags) { __tsan_mutex_pre_lock(mu, flags); }
void PostLock(Mutex* mu, unsigned flags) { __tsan_mutex_post_lock(mu, flags, 0); }
void PreUnlock(Mutex* mu, unsigned flags) { __tsan_mutex_pre_unlock(mu, flags); }
void PostUnlock(Mutex* mu, unsigned flags) { __tsan_mutex_post_unlock(mu, flags); }

// Runs a call that releases `mu` (held in `mode`), blocks, and reacquires it
// before returning.
template <typename Fn>
auto ReleaseAndReacquire(Mutex* mu, unsigned mode, Fn fn) {
  PreUnlock(mu, mode);
  auto r = fn();
  PostUnlock(mu, mode);
  PreLock(mu, mode);
  PostLock(mu, mode);
  return r;
}

}  // namespace

extern "C" {

// ---- The real functions (resolved by ld --wrap to Abseil's) ----
void RealLock(Mutex*) NEON_REAL("5Mutex4LockEv");
void RealUnlock(Mutex*) NEON_REAL("5Mutex6UnlockEv");
bool RealTryLock(Mutex*) NEON_REAL("5Mutex7TryLockEv");
void RealReaderLock(Mutex*) NEON_REAL("5Mutex10ReaderLockEv");
void RealReaderUnlock(Mutex*) NEON_REAL("5Mutex12ReaderUnlockEv");
bool RealReaderTryLock(Mutex*) NEON_REAL("5Mutex13ReaderTryLockEv");
void RealLockWhen(Mutex*, const Condition&) NEON_REAL("5Mutex8LockWhenERKNS0_9ConditionE");
void RealReaderLockWhen(Mutex*, const Condition&) NEON_REAL("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
bool RealLockWhenWithTimeout(Mutex*, const Condition&, Duration)
    NEON_REAL("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool RealReaderLockWhenWithTimeout(Mutex*, const Condition&, Duration)
    NEON_REAL("5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool RealLockWhenWithDeadline(Mutex*, const Condition&, Time)
    NEON_REAL("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
bool RealReaderLockWhenWithDeadline(Mutex*, const Condition&, Time)
    NEON_REAL("5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
void RealAwait(Mutex*, const Condition&) NEON_REAL("5Mutex5AwaitERKNS0_9ConditionE");
bool RealAwaitWithTimeout(Mutex*, const Condition&, Duration)
    NEON_REAL("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool RealAwaitWithDeadline(Mutex*, const Condition&, Time)
    NEON_REAL("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
void RealMutexDtorComplete(Mutex*) NEON_REAL("5MutexD1Ev");
void RealMutexDtorBase(Mutex*) NEON_REAL("5MutexD2Ev");
void RealCondVarWait(CondVar*, Mutex*) NEON_REAL("7CondVar4WaitEPNS0_5MutexE");
bool RealCondVarWaitWithTimeout(CondVar*, Mutex*, Duration)
    NEON_REAL("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
bool RealCondVarWaitWithDeadline(CondVar*, Mutex*, Time)
    NEON_REAL("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
void RealReleasableRelease(absl::ReleasableMutexLock*) NEON_REAL("19ReleasableMutexLock7ReleaseEv");

// ---- The wrappers (what our objects call instead) ----
void WrapLock(Mutex*) NEON_WRAP("5Mutex4LockEv");
void WrapUnlock(Mutex*) NEON_WRAP("5Mutex6UnlockEv");
bool WrapTryLock(Mutex*) NEON_WRAP("5Mutex7TryLockEv");
void WrapReaderLock(Mutex*) NEON_WRAP("5Mutex10ReaderLockEv");
void WrapReaderUnlock(Mutex*) NEON_WRAP("5Mutex12ReaderUnlockEv");
bool WrapReaderTryLock(Mutex*) NEON_WRAP("5Mutex13ReaderTryLockEv");
void WrapLockWhen(Mutex*, const Condition&) NEON_WRAP("5Mutex8LockWhenERKNS0_9ConditionE");
void WrapReaderLockWhen(Mutex*, const Condition&) NEON_WRAP("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
bool WrapLockWhenWithTimeout(Mutex*, const Condition&, Duration)
    NEON_WRAP("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool WrapReaderLockWhenWithTimeout(Mutex*, const Condition&, Duration)
    NEON_WRAP("5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool WrapLockWhenWithDeadline(Mutex*, const Condition&, Time)
    NEON_WRAP("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
bool WrapReaderLockWhenWithDeadline(Mutex*, const Condition&, Time)
    NEON_WRAP("5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
void WrapAwait(Mutex*, const Condition&) NEON_WRAP("5Mutex5AwaitERKNS0_9ConditionE");
bool WrapAwaitWithTimeout(Mutex*, const Condition&, Duration)
    NEON_WRAP("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
bool WrapAwaitWithDeadline(Mutex*, const Condition&, Time)
    NEON_WRAP("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
void WrapMutexDtorComplete(Mutex*) NEON_WRAP("5MutexD1Ev");
void WrapMutexDtorBase(Mutex*) NEON_WRAP("5MutexD2Ev");
void WrapCondVarWait(CondVar*, Mutex*) NEON_WRAP("7CondVar4WaitEPNS0_5MutexE");
bool WrapCondVarWaitWithTimeout(CondVar*, Mutex*, Duration)
    NEON_WRAP("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
bool WrapCondVarWaitWithDeadline(CondVar*, Mutex*, Time)
    NEON_WRAP("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
void WrapReleasableRelease(absl::ReleasableMutexLock*) NEON_WRAP("19ReleasableMutexLock7ReleaseEv");

void WrapLock(Mutex* mu) {
  PreLock(mu, 0);
  RealLock(mu);
  PostLock(mu, 0);
}

void WrapUnlock(Mutex* mu) {
  PreUnlock(mu, 0);
  RealUnlock(mu);
  PostUnlock(mu, 0);
}

bool WrapTryLock(Mutex* mu) {
  PreLock(mu, kTry);
  bool ok = RealTryLock(mu);
  PostLock(mu, ok ? kTry : kTry | kTryFailed);
  return ok;
}

void WrapReaderLock(Mutex* mu) {
  PreLock(mu, kRead);
  RealReaderLock(mu);
  PostLock(mu, kRead);
}

void WrapReaderUnlock(Mutex* mu) {
  PreUnlock(mu, kRead);
  RealReaderUnlock(mu);
  PostUnlock(mu, kRead);
}

bool WrapReaderTryLock(Mutex* mu) {
  PreLock(mu, kRead | kTry);
  bool ok = RealReaderTryLock(mu);
  PostLock(mu, ok ? kRead | kTry : kRead | kTry | kTryFailed);
  return ok;
}

// The LockWhen family always returns holding the mutex (the bool only says
// whether the condition became true before the timeout).
void WrapLockWhen(Mutex* mu, const Condition& c) {
  PreLock(mu, 0);
  RealLockWhen(mu, c);
  PostLock(mu, 0);
}

void WrapReaderLockWhen(Mutex* mu, const Condition& c) {
  PreLock(mu, kRead);
  RealReaderLockWhen(mu, c);
  PostLock(mu, kRead);
}

bool WrapLockWhenWithTimeout(Mutex* mu, const Condition& c, Duration d) {
  PreLock(mu, 0);
  bool r = RealLockWhenWithTimeout(mu, c, d);
  PostLock(mu, 0);
  return r;
}

bool WrapReaderLockWhenWithTimeout(Mutex* mu, const Condition& c, Duration d) {
  PreLock(mu, kRead);
  bool r = RealReaderLockWhenWithTimeout(mu, c, d);
  PostLock(mu, kRead);
  return r;
}

bool WrapLockWhenWithDeadline(Mutex* mu, const Condition& c, Time t) {
  PreLock(mu, 0);
  bool r = RealLockWhenWithDeadline(mu, c, t);
  PostLock(mu, 0);
  return r;
}

bool WrapReaderLockWhenWithDeadline(Mutex* mu, const Condition& c, Time t) {
  PreLock(mu, kRead);
  bool r = RealReaderLockWhenWithDeadline(mu, c, t);
  PostLock(mu, kRead);
  return r;
}

void WrapAwait(Mutex* mu, const Condition& c) {
  ReleaseAndReacquire(mu, HeldMode(mu), [&] {
    RealAwait(mu, c);
    return 0;
  });
}

bool WrapAwaitWithTimeout(Mutex* mu, const Condition& c, Duration d) {
  return ReleaseAndReacquire(mu, HeldMode(mu), [&] { return RealAwaitWithTimeout(mu, c, d); });
}

bool WrapAwaitWithDeadline(Mutex* mu, const Condition& c, Time t) {
  return ReleaseAndReacquire(mu, HeldMode(mu), [&] { return RealAwaitWithDeadline(mu, c, t); });
}

void WrapCondVarWait(CondVar* cv, Mutex* mu) {
  ReleaseAndReacquire(mu, HeldMode(mu), [&] {
    RealCondVarWait(cv, mu);
    return 0;
  });
}

bool WrapCondVarWaitWithTimeout(CondVar* cv, Mutex* mu, Duration d) {
  return ReleaseAndReacquire(mu, HeldMode(mu), [&] { return RealCondVarWaitWithTimeout(cv, mu, d); });
}

bool WrapCondVarWaitWithDeadline(CondVar* cv, Mutex* mu, Time t) {
  return ReleaseAndReacquire(mu, HeldMode(mu), [&] { return RealCondVarWaitWithDeadline(cv, mu, t); });
}

// Mutex() is inline and already calls __tsan_mutex_create(this,
// __tsan_mutex_not_static) in our TSan-compiled code; the destructor is not.
void WrapMutexDtorComplete(Mutex* mu) {
  __tsan_mutex_destroy(mu, __tsan_mutex_not_static);
  RealMutexDtorComplete(mu);
}

void WrapMutexDtorBase(Mutex* mu) {
  __tsan_mutex_destroy(mu, __tsan_mutex_not_static);
  RealMutexDtorBase(mu);
}

// ReleasableMutexLock's only member is the Mutex* it holds (null once released).
void WrapReleasableRelease(absl::ReleasableMutexLock* lock) {
  static_assert(sizeof(absl::ReleasableMutexLock) == sizeof(Mutex*));
  Mutex* mu = *reinterpret_cast<Mutex* const*>(lock);
  PreUnlock(mu, 0);
  RealReleasableRelease(lock);
  PostUnlock(mu, 0);
}

}  // extern "C"

#endif  // NEON_TSAN_ABSL_SHIM
