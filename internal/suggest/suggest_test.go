package suggest

import "testing"

func TestClosest(t *testing.T) {
	models := []string{"cnn", "mlp", "vgg11", "vgg16"}
	for name, want := range map[string]string{
		"vgg15": "vgg11", "VGG16": "vgg16", "cnnn": "cnn", "mpl": "mlp", "resnet": "", "fashion": "",
	} {
		if got := Closest(name, models); got != want {
			t.Errorf("Closest(%q) = %q, want %q", name, got, want)
		}
	}
	if got := Closest("fashion", []string{"mnist", "fashion-mnist", "cifar10"}); got != "fashion-mnist" {
		t.Errorf("prefix: got %q", got)
	}
	if got := Hint("batch-szie", []string{"batch-size", "test-batch-size"}); got != " (did you mean batch-size?)" {
		t.Errorf("Hint = %q", got)
	}
	// Three edits away is no suggestion, and neither is a name of one or two
	// letters that merely starts a candidate.
	if got := Closest("vgg99x", models); got != "" {
		t.Errorf("three edits: got %q", got)
	}
	if got := Closest("vg", models); got != "" {
		t.Errorf("a two-letter prefix: got %q", got)
	}
	// The right name needs no hint; the right name in other letters does.
	if got := Hint("mlp", models); got != "" {
		t.Errorf("Hint(mlp) = %q", got)
	}
	if got := Hint("MLP", models); got != " (did you mean mlp?)" {
		t.Errorf("Hint(MLP) = %q", got)
	}
}
