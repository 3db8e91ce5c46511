// Package train trains and evaluates cnntrain's models.
//
// # The loop
//
// Trainer.Fit runs minibatches and optimizer steps and nothing else; the
// rest attaches as hooks, values implementing StepHook (after the backward
// pass, before the update: the place to stop on a NaN loss) or EpochHook:
//
//	t := &train.Trainer{
//		Model:     model,
//		Optimizer: &train.SGD{LR: 0.01, Momentum: 0.5},
//		Hooks:     []any{train.NaNGuard{}, train.MNISTLog{W: os.Stderr, Every: 100}, &throughput, eval},
//	}
//	err := t.Fit(ctx, loader, epochs) // ctx cancelled by Ctrl-C stops at the next minibatch
//
// MNISTLog and CIFARLog print the notebooks' progress lines, EvalAfterEpochs
// evaluates on the test set, Throughput measures images per second.
//
// # Runs
//
// Config is a run's configuration; Preset gives each notebook's, Prepare
// builds the model and data pipelines for it and Run trains and evaluates as
// that notebook does. SaveRun writes a run folder (model.safetensors with
// PyTorch's state_dict names, checkpoint.json, config.yaml) atomically;
// LoadRunInfo and LoadWeights read it back, strictly.
//
// # Optimizers
//
// SGD and Adam follow torch.optim's update rules operation by operation, so
// a step matches PyTorch's to float32 rounding (see the parity tests).
package train
