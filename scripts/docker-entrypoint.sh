#!/bin/sh
# The image's entry point: the first argument names the program
# (memworker, memsearch, memctl); anything else is memworker's arguments.
set -e
case "${1:-}" in
memworker | memsearch | memctl) exec "$@" ;;
"") exec memworker ;;
*) exec memworker "$@" ;;
esac
