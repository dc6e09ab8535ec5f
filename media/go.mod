module github.com/hcw-home/hcw/media

go 1.26
