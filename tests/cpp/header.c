/* capvault.h compiles as C (C11, -Wall -Wextra -Werror) and its functions link. */
#include <stdio.h>

#include "capvault.h"

int main(void) {
    cv_amount amount = 0;
    if (cv_amount_parse("9915.80", &amount) != CV_OK || amount != 991580000000) return 1;
    char text[48];
    cv_amount_format(amount, text, sizeof text);
    cv_vault* vault = NULL;
    cv_result result;
    if (cv_open("{\"books\": [{\"venue\": \"SSE\", \"currency\": \"CNY\", \"slot_count\": 3, \"balance\": 1000}]}",
                NULL, &vault, &result) != CV_OK)
        return 2;
    if (cv_allocate(vault, 0, 2, amount, &result) != CV_REJECTED) return 3; /* more than the pool */
    printf("%s: %s\n", result.kind, result.message);
    if (cv_allocate(vault, 0, 2, 100 * CV_AMOUNT_SCALE, &result) != CV_OK) return 4;
    printf("%s seq %llu, %s = %lld\n", result.kind, (unsigned long long)result.seq, result.figures[0].name,
           (long long)result.figures[0].value);
    return cv_close(vault) == CV_OK ? 0 : 5;
}
