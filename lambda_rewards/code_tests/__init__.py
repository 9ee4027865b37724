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
judge's report was tampered with), ``sandbox_error`` (no child could be started). Metrics: ``tests``,
``tests_passed``, ``timeouts``, ``load_error`` (the code did not compile, raised on import or lacks
the entry point), ``sandboxed`` (1 when the seccomp filter was active), ``run_seconds``.

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
* Every child: ``sys.executable -s -P -B -S`` (``-I`` without ``-E``: the environment is replaced
  entirely, so ``-E`` buys nothing, and dropping it lets ``PYTHONHASHSEED=0`` make every run of the
  same code behave the same), an environment of ``PYTHONHASHSEED`` and ``PYTHONUTF8`` only (no AWS
  credentials), a fresh temporary directory as cwd deleted afterwards, its own session and process
  group, rlimits (CPU, address space ``CODE_TESTS_MEMORY_MB``, file size 1 MiB, no core files, 64
  fds, ``RLIMIT_NPROC=1``), stdin from /dev/null unless it is a case. At the end of a run every
  process group is SIGKILLed, then reaped, for whatever reason the run ended.
* Best-effort hardening in every child (``_child.harden``, via ctypes): ``PR_SET_DUMPABLE=0`` (other
  processes of the same user cannot read its memory, fds or environment through /proc, nor ptrace
  it) and a seccomp filter denying new processes and threads, exec, setsid/setpgid, signals to other
  processes, sockets other than AF_UNIX, ptrace and process_vm_*, io_uring, namespaces, mounts, bpf,
  perf and keyrings, and every change to the file system (EROFS: opening for writing, creating,
  deleting, renaming, chmod...), so that no run can plant a module in a writable interpreter or
  grader installation for a later judge to import. The judge tells the grader it is hardened
  before the tests are sent to it, and the candidate's code starts only after the judge holds
  them. In the Lambda, the grader process makes itself non-dumpable too.
* Threads and subprocesses are not available to candidates anywhere (seccomp and RLIMIT_NPROC agree),
  so results do not depend on where the grader runs.

Known limits
------------
* Network isolation needs the function in a VPC subnet with no route out: the seccomp filter blocks
  sockets only where it can be installed, and the Lambda Runtime API listens on 127.0.0.1.
* AWS Lambda reportedly forbids ``prctl`` in functions (ClickHouse#53117, catboost#1606,
  cypress-lambda-example#2): there, expect ``sandboxed=0``; no seccomp filter, no non-dumpable
  processes. What still holds there: the two-process judge, the sentinel, the plain-data replies,
  the empty environment, rlimits (``RLIMIT_NPROC=1`` does stop forks and threads for the non-root
  Lambda user), process-group kills. What does not: a candidate running as the same user could read
  or write other processes' memory through ``/proc/<pid>/mem`` (if the platform allows it), for
  example the grader's, which holds the batch's references and the function's credentials, and it
  can signal other processes of that user. Give the function a role with no permission beyond its
  logs and no network route, and treat a determined attacker in the candidate as out of scope of
  this grader (use a per-run microVM for that).
* Without seccomp, candidates can write wherever the user can, up to 1 MiB a file. On Lambda that
  is ``/tmp`` only (code and runtime are read-only): nothing the grader trusts is read from there,
  so no score can change, but ``/tmp`` can fill until the environment is recycled (runs then fail
  with ``sandbox_error``). Elsewhere, never run the grader without seccomp as a user who can write
  the interpreter's or the grader's files: a planted stdlib module would run inside later judges.
* Where neither seccomp nor a non-root user is available (root in a container that forbids seccomp),
  a double fork plus ``setsid`` escapes the process-group kill; the rlimits still bound it.
* With seccomp, programs cannot write files at all (not even in their own directory); on Lambda they
  can write in ``/tmp``. A solution that needs a scratch file scores differently in the two places.
* Return values must be builtin plain data: a generator, a custom class or a numpy scalar fails the
  unit even where the original HumanEval harness (``==`` in one process) would have accepted it.
  Exceptions cross as builtin exception types by name (anything else as a generic error).
* Time limits are CPU rlimits (whole seconds) plus wall-clock deadlines; under heavy load a solution
  within a hair of its limit can flip.
"""
