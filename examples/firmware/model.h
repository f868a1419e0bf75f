/* The model behind two plain functions, compiled in model.c alone, so that the size report can
 * measure the model's code (model.c's .text) apart from the application's. */
#ifndef MODEL_H_INCLUDED
#define MODEL_H_INCLUDED

#include "activity.h"

void model_reset(activity_state *st);
/* one sample x [ACTIVITY_INPUT_SIZE] -> y [ACTIVITY_OUTPUT_SIZE], the activity if the stream ended here */
void model_step(activity_state *st, const float *x, float *y);

#endif
