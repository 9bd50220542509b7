package costobs

import "fmt"

// InputError is a Config or Record value the SDK refuses, naming the field.
type InputError struct {
	Field   string
	Problem string
}

func (e *InputError) Error() string { return fmt.Sprintf("costobs: %s %s", e.Field, e.Problem) }
