using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(PolicyKit.Benchmarks.PlanBenchmarks).Assembly).Run(args);
