// gok builds github.com/gpsntp/gpsntp/... from this module: the relative
// replace makes the image from this checkout (see image/doc.go).
module gokrazy/build/gpsntp

go 1.26.0

require github.com/gpsntp/gpsntp v0.0.0

replace github.com/gpsntp/gpsntp => ../../../../../..
