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
}
