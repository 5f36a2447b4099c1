"""p4sim's own core.p4 and v1model.p4, found by `#include <...>` after the -I directories."""
