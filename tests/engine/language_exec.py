"""A re-implementation of pulumi-language-python-exec (pulumi/pulumi,
sdk/python/cmd/pulumi-language-python-exec), the script the Python language host runs a program with.
It ships with the Pulumi CLI, not with the SDK, so tests/engine/rules.py (PROGRAM_RUN) starts this one.

The rules it follows: read the stack config from PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS; configure
the SDK with the monitor and engine addresses, project, stack, parallelism, dry-run flag, organization
and root directory from the command line; set sys.argv to the program and its arguments; change to
--pwd; run the program (a directory means its __main__.py) with runpy inside the stack resource on a
new event loop; exit 0 on success, 1 after a RunError (its message logged), 32 after an unhandled
exception (its traceback logged).
"""

import argparse
import asyncio
import os
import runpy
import sys
import traceback

import pulumi
import pulumi.runtime

USER_ERROR_SHOWN = 32


def main() -> int:
    parser = argparse.ArgumentParser()
    for flag in ("project", "root_directory", "stack", "parallel", "dry_run", "pwd", "monitor", "engine",
                 "tracing", "organization"):
        parser.add_argument(f"--{flag}")
    parser.add_argument("PROGRAM")
    parser.add_argument("ARGS", nargs="*")
    args = parser.parse_args()

    pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env())
    settings = pulumi.runtime.Settings(
        monitor=args.monitor, engine=args.engine, project=args.project, stack=args.stack,
        parallel=int(args.parallel), dry_run=args.dry_run == "true", organization=args.organization,
        root_directory=args.root_directory)
    pulumi.runtime.configure(settings)
    sys.argv = [args.PROGRAM, *args.ARGS]
    if args.pwd is not None:
        os.chdir(args.pwd)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(lambda: runpy.run_path(args.PROGRAM, run_name="__main__")))
        return 0
    except pulumi.RunError as error:
        pulumi.log.error(str(error))
        return 1
    except Exception:  # noqa: BLE001 - the program's own failure, reported like the real script does
        pulumi.log.error("Program failed with an unhandled exception:\n" + traceback.format_exc())
        return USER_ERROR_SHOWN
    finally:
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
