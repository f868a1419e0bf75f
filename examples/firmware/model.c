/* The one translation unit that holds the model's code and weights: ACTIVITY_IMPLEMENTATION gives
 * activity_reset, activity_step and activity_predict external linkage here. The other files include
 * activity.h with ACTIVITY_DECLARATIONS_ONLY (main.c), so the firmware has one copy of the weights
 * and the size report measures the model's code as this object's .text. */
#define ACTIVITY_IMPLEMENTATION
#include "activity.h"
