"""``code_tests`` reward: runs the Python code of an answer against the tests in the reference.

Handler ``lambda_rewards.code_tests.handler.handler``; stdlib only; Python 3.11+ (Lambda: 3.14).

Answers and references
----------------------
Code is taken from the answer after any ``</think>``: the last ```python block (for a function
reference, the last one that defines the entry point), else the last untagged block, else the whole
answer when it has no fence; an unclosed final fence runs to the end. References:

* HumanEval style ``{"test": "<defines check(candidate)>", "entry_point": "name", "prompt": ...}``
  (a HumanEval record works as it is). Without ``prompt``, the code of the sample's last user
  message stands in for it (trusted data; the answer never is): the helpers the test uses
  (HumanEval/32 ``poly``, /38 ``encode_cyclic``) come from there. A completion that does not define
  the entry point continues the prompt (``prompt + completion``); one that does is preceded by the
  prompt (its imports and helpers). Each top-level statement of ``check`` that asserts something
  (``assert True`` does not count) is one unit; if ``check`` has no such statement,
  ``check(candidate)`` as a whole is the one unit. A unit that never finished (timeout, crash)
  failed. The score is 1 when every unit passed, else 0 (HumanEval's pass@1): a ``pass`` stub
  passes every ``assert not candidate(x)``, so a fraction would pay it for doing nothing. A
  reference with ``"partial_credit": true`` gets the fraction of units passed instead, and with it
  that risk.
* Whole programs ``{"cases": [{"stdin": ..., "stdout": ...}], "time_limit": s}`` (or APPS-style
  ``{"inputs": [...], "outputs": [...]}``): a case passes when the program exits 0 and its complete
  stdout equals the expected one after dropping trailing whitespace on every line and trailing empty
  lines. Score: fraction of cases passed. ``time_limit`` (default ``CODE_TESTS_CASE_TIME_LIMIT_S``)
  is CPU seconds per case; the wall-clock limit is twice that plus 0.5 s.

Errors (score 0 and an ``error_<reason>`` metric): ``bad_reference``, ``no_code``,
``code_too_large``, ``timeout`` (nothing passed before the time ran out), ``protocol_error`` (the
judge's report was tampered with), ``sandbox_unavailable`` (the sandbox below cannot be
established here and ``CODE_TESTS_ALLOW_UNSANDBOXED`` is not set: nothing ran), ``sandbox_error``
(no child could be started). Metrics: ``tests``, ``tests_passed``, ``timeouts``, ``load_error``
(the code did not compile, raised on import or lacks the entry point), ``sandboxed`` (1 when every
hardening step held in every child of the run), ``run_seconds``.

Isolation design
----------------
Pass or fail is never decided where the candidate's code runs.

* HumanEval: two child interpreters per answer. The *judge* receives the compiled tests and a random
  per-run sentinel (``secrets.token_hex``) over a pipe (never argv, environment or disk) and never
  executes the candidate's code: ``candidate`` in ``check`` is a proxy that sends the arguments to
  the *candidate* process and decodes the reply as plain data (None, bool, int, float, complex, str,
  bytes, list, tuple, set, frozenset, dict; exact builtin types, bounded size and depth) or as the
  name of a raised exception (StopIteration and StopAsyncIteration, which would steer a loop in
  ``check``, and every non-Exception cross as a plain candidate failure). An object whose ``__eq__``
  always says yes never reaches the comparison; patching ``builtins``, ``assert``, ``print``,
  ``json``, ``check`` or ``sys.stdout``, ``sys.exit``/``os._exit``/``BaseException``, ``atexit``
  hooks and printing a guessed sentinel only affect the candidate process, whose stdout goes
  nowhere. The judge reports each unit on its own result pipe, each line starting with the sentinel,
  ending with an end line; the grader rejects the whole report if any line lacks the sentinel or
  anything follows the end line. The judge seeds ``random`` (when the test uses it) and its helpers
  come from the reference's prompt, not from the answer (redefining ``poly`` or ``encode_cyclic``
  gains nothing).
* Programs: one child per case; the grader compares the captured stdout (capped at twice the
  expected size + 64 KiB: a flood is stopped at the cap).
* Nothing reachable from a candidate holds a secret. Judges, candidates and programs are forked by
  the launcher (``launcher.py``), an interpreter exec'd at cold start, before any event is read,
  with an environment of ``PYTHONHASHSEED=0`` and ``PYTHONUTF8=1`` only: it never held a reference,
  a test or a credential, and tests and code reach each child straight from the grader over pipes.
  The grader process and the launcher are non-dumpable. Each child: its own session, the run's
  fresh temporary directory as cwd (deleted afterwards), rlimits (CPU, address space
  ``CODE_TESTS_MEMORY_MB``, file size 1 MiB, no core files, 64 fds, ``RLIMIT_NPROC=1``), stdin from
  /dev/null unless it is a case, then ``hardening.harden``: as root, an unprivileged uid/gid
  (65534) with an empty bounding set; no capability left; no_new_privs; non-dumpable; and the
  seccomp filter (no new processes or threads, exec, setsid/setpgid, signals or SIGIO ownership
  aimed at other processes, prlimit/affinity/scheduling of other pids, sockets other than AF_UNIX,
  ptrace and process_vm_*, io_uring, namespaces, mounts, bpf, perf, keyrings, and every change to
  the file system). The judge tells the grader it is hardened (with its flags) before the tests
  are sent to it; the candidate's code starts only after the judge holds them. At the end of a run
  every child still running is SIGKILLed with its process group and reaped.
* Fail closed: where a step cannot be applied (AWS Lambda forbids ``prctl``; see
  ``rft/assumptions.py``), samples score 0 with ``error_sandbox_unavailable`` and nothing runs,
  unless ``CODE_TESTS_ALLOW_UNSANDBOXED=1`` (unsafe, see the README's threat model) allows running
  with the steps that hold; ``sandboxed`` is then 0.
* Threads and subprocesses are not available to candidates (seccomp and RLIMIT_NPROC agree).

Known limits
------------
* Network isolation needs the function in a VPC subnet with no route out: the seccomp filter allows
  AF_UNIX sockets, and the Lambda Runtime API listens on 127.0.0.1 (reachable only without the
  filter, that is in the unsafe degraded mode).
* In the degraded mode (Lambda with ``CODE_TESTS_ALLOW_UNSANDBOXED=1``) a candidate runs as the
  same user as the grader, with no filter: it can read the grader's memory through
  ``/proc/<pid>/mem`` where the platform allows that, hence the batch's references, signal
  processes of that user and write in ``/tmp``. What still holds: the launcher holds nothing, the
  two-process judge, the sentinel, the plain-data replies, the empty environment, the rlimits
  (``RLIMIT_NPROC=1`` stops forks and threads for the non-root user), process-group kills.
* With seccomp, programs cannot write files at all (not even in their own directory).
* As root, the children import the interpreter's modules through directories the launcher opened
  for them (``/proc/self/fd/N``), so an interpreter under a home only root can enter still works.
* Return values must be builtin plain data: a generator, a custom class or a numpy scalar fails the
  unit even where the original HumanEval harness (``==`` in one process) would have accepted it.
  Exceptions cross as builtin exception types by name (anything else as a generic error).
* Time limits are CPU rlimits (whole seconds) plus wall-clock deadlines; under heavy load a solution
  within a hair of its limit can flip.
"""
