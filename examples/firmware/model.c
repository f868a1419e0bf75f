#include "model.h"

void model_reset(activity_state *st)
{
    activity_reset(st);
}

void model_step(activity_state *st, const float *x, float *y)
{
    activity_step(st, x, y);
}
