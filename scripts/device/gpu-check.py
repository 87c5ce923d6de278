"""
The real-hardware check of issue 7, on one GPU: inferwatt's nvml sensor (the hardware energy counter,
through koffi) and its nvidia-smi sensor (power integrated by trapezoids, run beside it with
--gpu-cross-check) against nvidia-ml-py's own reading of the same counter, over phases of idle and
PyTorch load. It only reads the GPU; it changes no setting.

Output: a table on stdout and result.json in --out.
"""
import argparse, json, os, re, signal, subprocess, sys, time, urllib.request

import pynvml
import torch

ap = argparse.ArgumentParser()
ap.add_argument('--bundle', required=True)
ap.add_argument('--out', required=True)
ap.add_argument('--port', type=int, default=19477)
ap.add_argument('--phase-s', type=float, default=20.0)
args = ap.parse_args()

pynvml.nvmlInit()
h = pynvml.nvmlDeviceGetHandleByIndex(0)
name = pynvml.nvmlDeviceGetName(h)
counter_mj = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(h)

agent = subprocess.Popen(
    ['node', args.bundle, 'run', '--sensors', 'nvml', '--gpu-cross-check', '--proxy=false',
     '--metrics-listen', f'127.0.0.1:{args.port}', '--interval-ms', '100', '--log-level', 'info'],
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

def metrics():
    return urllib.request.urlopen(f'http://127.0.0.1:{args.port}/metrics', timeout=5).read().decode()

def sample(body, pattern):
    m = re.search(pattern + r' ([0-9.eE+-]+)$', body, re.M)
    return float(m.group(1)) if m else None

def snapshot():
    body = metrics()
    return {
        't': time.monotonic(),
        'nvml_counter_mj': counter_mj(),
        'agent_nvml_j': sample(body, r'inferwatt_device_energy_joules_total\{device="gpu0",kind="gpu",method="counter"\}'),
        'xc_counter_j': sample(body, r'inferwatt_gpu_cross_check_energy_joules\{device="gpu0",method="counter"\}'),
        'xc_smi_j': sample(body, r'inferwatt_gpu_cross_check_energy_joules\{device="gpu0",method="integrated"\}'),
        'power_w': sample(body, r'inferwatt_device_power_watts\{device="gpu0",kind="gpu",method="counter"\}'),
    }

for _ in range(300):
    try:
        if 'inferwatt_gpu_cross_check_energy_joules{device="gpu0",method="integrated"}' in metrics():
            break
    except Exception:
        pass
    time.sleep(0.1)
else:
    agent.kill()
    print(agent.stdout.read())
    sys.exit('the agent did not start')

def load(seconds):
    a = torch.randn(8192, 8192, device='cuda', dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device='cuda', dtype=torch.bfloat16)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(20):
            a = (a @ b).clamp_(-1, 1)
        torch.cuda.synchronize()

phases = []
for label, fn in [('idle', lambda: time.sleep(args.phase_s)), ('load', lambda: load(args.phase_s)),
                  ('idle-after', lambda: time.sleep(args.phase_s)),
                  ('bursts', lambda: [load(0.3) or time.sleep(0.3) for _ in range(int(args.phase_s / 0.6))])]:
    s0 = snapshot(); fn(); time.sleep(0.5); s1 = snapshot()
    ref = (s1['nvml_counter_mj'] - s0['nvml_counter_mj']) / 1000
    row = {
        'phase': label, 'seconds': round(s1['t'] - s0['t'], 2), 'nvidia_ml_py_j': ref,
        'agent_nvml_j': s1['agent_nvml_j'] - s0['agent_nvml_j'],
        'xc_counter_j': s1['xc_counter_j'] - s0['xc_counter_j'],
        'xc_nvidia_smi_j': s1['xc_smi_j'] - s0['xc_smi_j'],
        'mean_power_w': ref / (s1['t'] - s0['t']),
    }
    row['agent_nvml_over_ref'] = row['agent_nvml_j'] / ref if ref else None
    row['nvidia_smi_over_counter'] = row['xc_nvidia_smi_j'] / row['xc_counter_j'] if row['xc_counter_j'] else None
    phases.append(row)
    print(json.dumps(row))

agent.send_signal(signal.SIGTERM)
try:
    out, _ = agent.communicate(timeout=20)
except subprocess.TimeoutExpired:
    agent.kill(); out, _ = agent.communicate()
result = {'gpu': name, 'driver': pynvml.nvmlSystemGetDriverVersion(), 'phases': phases, 'agent_exit': agent.returncode}
with open(os.path.join(args.out, 'result.json'), 'w') as f:
    json.dump(result, f, indent=2)
with open(os.path.join(args.out, 'agent.log'), 'w') as f:
    f.write(out)
print('\n| phase | s | mean W | nvidia-ml-py J | agent nvml J | ratio | nvidia-smi J (cross-check) | nvidia-smi / counter |')
print('|---|---|---|---|---|---|---|---|')
for r in phases:
    print(f"| {r['phase']} | {r['seconds']} | {r['mean_power_w']:.1f} | {r['nvidia_ml_py_j']:.1f} | {r['agent_nvml_j']:.1f} | {r['agent_nvml_over_ref']:.4f} | {r['xc_nvidia_smi_j']:.1f} | {r['nvidia_smi_over_counter']:.4f} |")
