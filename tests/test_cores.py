"""utils.cores: the OpenMP pool and AMX, decided before MXNet loads."""
import os
import subprocess
import sys

from tests.conftest import REPO
from utils import cores

AMX_CPU = {'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16', 'amx_int8'}


def _granted():
    return 0


def _refused():
    return 22  # EINVAL, as Linux answers on a CPU without AMX


def _decide(environ, flags, request):
    """The decision a process makes before MXNet loads (this test process has it loaded)."""
    return cores.enable_amx(environ, flags, request, mxnet_loaded=False)


def test_amx_is_asked_for_only_where_the_cpu_has_it():
    environ = {}
    assert _decide(environ, {'avx512f', 'avx512_bf16'}, _granted).startswith(
        'AMX: this CPU has none (oneDNN uses AVX-512 with BF16)')
    assert _decide(environ, {'avx2'}, _granted).endswith('(oneDNN uses AVX2 or older)')
    assert 'DNNL_MAX_CPU_ISA' not in environ
    assert _decide(environ, AMX_CPU, _granted).startswith('AMX: on')
    assert environ['DNNL_MAX_CPU_ISA'] == 'AVX512_CORE_AMX'


def test_amx_is_left_off_when_turned_off_refused_or_chosen_by_the_user():
    environ = {'ACM_AMX': '0'}
    assert _decide(environ, AMX_CPU, _granted) == 'AMX: off (ACM_AMX=0)'
    environ = {}
    assert 'Linux refused the tile state (error 22' in _decide(environ, AMX_CPU,
                                                                         _refused)
    assert 'DNNL_MAX_CPU_ISA' not in environ
    environ = {'DNNL_MAX_CPU_ISA': 'AVX2'}
    assert 'left to DNNL_MAX_CPU_ISA=AVX2' in _decide(environ, AMX_CPU, _granted)
    assert environ['DNNL_MAX_CPU_ISA'] == 'AVX2'


def test_linux_refuses_the_tile_state_to_a_cpu_without_amx():
    if 'amx_tile' not in cores.cpu_flags():
        assert cores._request_tile_state() != 0  # pylint: disable=protected-access
    else:  # an AMX CPU on Linux 5.16+ grants it; older kernels refuse with an errno
        assert cores._request_tile_state() >= 0  # pylint: disable=protected-access


def test_this_process_decides_before_mxnet_loads_and_acm_amx_turns_it_off():
    code = ('import os, utils.cores, mxnet; print(utils.cores.amx_state()); '
            'print(os.environ.get("DNNL_MAX_CPU_ISA"))')
    for setting in ('1', '0'):
        env = dict(os.environ, ACM_AMX=setting)
        env.pop('DNNL_MAX_CPU_ISA', None)
        state, isa = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env, check=True,
                                    capture_output=True, text=True).stdout.splitlines()
        if setting == '0':
            assert (state, isa) == ('AMX: off (ACM_AMX=0)', 'None')
        elif {'amx_tile', 'amx_bf16'} <= cores.cpu_flags():
            assert isa == ('AVX512_CORE_AMX' if state.startswith('AMX: on') else 'None')
        else:
            assert state.startswith('AMX: this CPU has none') and isa == 'None'


def test_evaluation_names_the_faster_forms_this_cpu_has():
    from deployment.inference import faster_forms
    assert faster_forms(flags={'avx2', 'fma'}) is None
    note = faster_forms(flags={'avx512f', 'avx512_vnni', 'avx512_bf16'})
    assert note.startswith('note: this CPU has BF16/VNNI kernels: --form int8 or --form bf16')
    assert faster_forms(flags={'avx512f', 'avx512_vnni'}).count('--form') == 1
