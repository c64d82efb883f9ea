// stdbool.h first: without it ldns's `bool` parameters import into Swift as Int8.
#include <stdbool.h>
#include <stdlib.h>
#include <ldns/ldns.h>
