"""The `aotsnn` subcommands, one module per job: errors and exit statuses (errors), generated and
read inputs (inputs), progress display (progress), recorded runs (recording), and the commands
themselves (build: demo, compile; running: run, plot; checking: verify; describe: info, targets)."""
