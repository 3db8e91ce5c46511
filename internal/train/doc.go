// Package train is the training loop and what a run attaches to it.
//
// # The loop
//
// Trainer.Fit runs minibatches and optimizer updates and nothing else, on
// the model's vm.Device: per minibatch one upload of the batch, forward and
// backward, the step hooks, and the optimizer's update on the device. The
// rest attaches as hooks, registered by type and by name (a hook's error is
// returned prefixed with its name):
//
//	t := &train.Trainer{Model: model, Device: dev, Optimizer: &optim.SGD{LR: 0.01, Momentum: 0.5}}
//	t.OnStep("nan guard", train.NaNGuard{}) // after backward, before the update
//	t.OnUpdate("checkpoint", saver)          // after the update
//	t.OnStep("progress log", train.EveryN(100, train.MNISTLog{W: os.Stderr}))
//	t.OnEpochEnd("throughput", &throughput)
//	t.OnEpochEnd("evaluation", eval)
//	err := t.Fit(ctx, loader, epochs) // ctx cancelled by Ctrl-C stops at the next minibatch
//
// Fit starts at t.Position (a datasets.Position: the next minibatch and the
// augmentation stream's state) and leaves it where it stopped.
//
// MNISTLog and CIFARLog print the notebooks' progress lines, EvalAfterEpochs
// evaluates on the test set, Throughput measures images per second.
//
// # Runs
//
// Prepare builds a run from a config.Config (the model, its device, the data
// pipelines); Prepared.Resume loads a run folder's checkpoint into it; Run
// trains and evaluates it, saving checkpoints, metrics.jsonl and the finished
// run into Logs.Folder when set, reporting as its notebook does
// (config.Report: a dataset's log style and a model's accuracy format, data
// in the registries, not names in the loop). The checkpoint package writes
// the result; the optim package holds the update rules; evaluate measures.
package train
