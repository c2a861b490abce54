module github.com/orbisproject/orbis

go 1.26
